"""One record of a trained model's metadata (issue #24): written into checkpoints and ONNX files, read back by
`cdsam.info.model_info` for every command; checkpoints and ONNX files of the previous format still load."""
import json
import numpy as np
from PIL import Image
from cdsam.checkpoint import read_checkpoint
from cdsam.files import save_state
from cdsam.info import ModelInfo, model_info
from conftest import run_in_process


def _old_format(ck: dict, path):
    "The checkpoint as the previous release wrote it: `stats` in its metadata, no `info` record."
    meta = {k: v for k, v in ck['meta'].items() if k != 'info'}
    meta['stats'] = [list(ck['meta']['info']['mean']), list(ck['meta']['info']['std'])]
    save_state({f'model.{k}': v for k, v in ck['model'].items()}, path, metadata={'cdsam': json.dumps(meta)})
    return path


def test_training_writes_the_record(trained):
    meta = read_checkpoint(trained['ckpt'])['meta']
    info = model_info(meta)
    assert isinstance(info, ModelInfo) and 'stats' not in meta
    assert (info.size, info.text, info.threshold, info.stage, info.view) == (56, 'skin lesion', 0.5, 1, 'whole')
    assert info.patch_size == (14, 14) and len(info.mean) == len(info.std) == 3


def test_previous_checkpoint_format_predicts_the_same_masks(trained, data, tmp_path):
    old = _old_format(read_checkpoint(trained['ckpt']), tmp_path/'old.pt')
    assert model_info(read_checkpoint(old)['meta']).stats == model_info(read_checkpoint(trained['ckpt'])['meta']).stats
    imgs = data['voc']/'JPEGImages'
    for name, ck in (('new', trained['ckpt']), ('old', old)):
        r = run_in_process('cdsam-predict', '--checkpoint', ck, '--input', imgs, '--output_dir', tmp_path/name)
        assert r.returncode == 0, r.stderr
    for p in sorted((tmp_path/'new'/'masks').iterdir()):
        assert np.array_equal(np.asarray(Image.open(p)), np.asarray(Image.open(tmp_path/'old'/'masks'/p.name))), p.name


def test_onnx_files_carry_the_record_and_old_ones_load(trained, tmp_path):
    import onnx
    from cdsam.runtime import OnnxSegmenter
    r = run_in_process('cdsam-export', '--checkpoint', trained['ckpt'], '--output', tmp_path/'m.onnx')
    assert r.returncode == 0, r.stderr
    seg = OnnxSegmenter(tmp_path/'m.onnx')
    ck_info = model_info(read_checkpoint(trained['ckpt'])['meta'])
    assert (seg.info.size, seg.info.stats, seg.info.threshold, seg.info.text) == (ck_info.size, ck_info.stats, 0.5, 'skin lesion')
    m = onnx.load(str(tmp_path/'m.onnx'))                      # the previous release's record: fewer fields
    for prop in m.metadata_props:
        if prop.key == 'cdsam':
            rec = json.loads(prop.value)
            prop.value = json.dumps({k: rec[k] for k in ('format', 'text', 'size', 'mean', 'std', 'threshold', 'patch_size', 'multimask', 'stage')})
    onnx.save(m, str(tmp_path/'old.onnx'))
    old = OnnxSegmenter(tmp_path/'old.onnx')
    assert (old.info.size, old.info.stats, old.info.view) == (seg.info.size, seg.info.stats, 'whole')
    image = np.full((40, 30, 3), 128, np.uint8)
    assert np.allclose(old.predict(image)[0], seg.predict(image)[0])
