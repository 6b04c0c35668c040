"""Issue #34, the trust cases that are not one bad value: resumed outputs never mix settings, masks are read by one rule
everywhere, and readers refuse what would silently read the wrong images."""
import shutil
import numpy as np
import pytest
from PIL import Image
from conftest import run_in_process


def test_predict_resume_never_mixes_settings(trained, data, tmp_path):
    imgs, out = data['voc']/'JPEGImages', tmp_path/'p'
    args = ('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', imgs, '--output_dir', out)
    assert run_in_process(*args).returncode == 0
    before = {p.name: p.read_bytes() for p in (out/'masks').iterdir()}
    for extra, changed in ((['--tta', 'd8'], 'tta:'), (['--threshold', '0.3'], 'threshold:'), (['--text', 'mole'], 'text:')):
        r = run_in_process(*args, '--resume', *extra)
        assert r.returncode == 2 and 'holds outputs made with other settings' in r.stderr and changed in r.stderr, r.stderr
    assert {p.name: p.read_bytes() for p in (out/'masks').iterdir()} == before
    other = tmp_path/'other.pt'; shutil.copy(trained['ckpt'], other)                # another checkpoint file
    r = run_in_process('cdsam-predict', '--checkpoint', other, '--input', imgs, '--output_dir', out, '--resume')
    assert r.returncode == 2 and 'checkpoint:' in r.stderr, r.stderr
    r = run_in_process(*args, '--resume')                                            # the same settings: continues
    assert r.returncode == 0 and '--resume: 16 image(s) already done' in r.stdout, r.stderr


def test_jpeg_and_alpha_masks_are_read_by_one_rule(trained, data, tmp_path):
    "Training targets and every score read a mask alike: > 127 foreground; the grey of a grey + alpha mask, never its alpha."
    from cdsam.data import SegDataset
    from cdsam.records import Record
    voc = tmp_path/'voc'; shutil.copytree(data['voc'], voc)
    name = (voc/'ImageSets'/'Segmentation'/'val.txt').read_text().split()[0]
    m = np.asarray(Image.open(voc/'SegmentationClass'/f'{name}.png'))
    soft = np.where(m > 0, 200, 0).astype(np.uint8); soft[:, :3] = 60                 # antialiased edge / JPEG noise
    Image.fromarray(np.stack([soft, np.full_like(soft, 128)], -1), 'LA').save(voc/'SegmentationClass'/f'{name}.png')
    ds = SegDataset([Record(voc/'JPEGImages'/f'{name}.jpg', 'x', 'binary', voc/'SegmentationClass'/f'{name}.png')])
    with pytest.warns(UserWarning, match=f'{name}.png.*above 127 count as foreground'):
        t = ds.load_mask(ds.records[0], Image.open(voc/'JPEGImages'/f'{name}.jpg').size)
    assert (t == (soft > 127)).all()


# ---- readers: what would silently read the wrong images or the wrong labels is one line, or read right ----
from cdsam.data import data_records
from cdsam.plan import data_plan
from cdsam.records import ph2_records, ham10000_records, read_table
from cdsam.synthetic import make_synthetic_voc, make_synthetic_coco, make_synthetic_ph2, make_synthetic_ham10000


def _fails(fn, *words):
    with pytest.raises((ValueError, FileNotFoundError)) as e: fn()
    assert all(w in str(e.value) for w in words), str(e.value)


def test_ph2_table_in_other_separators(tmp_path):
    root = make_synthetic_ph2(tmp_path/'ph2', n=6, size=32)
    _, want = ph2_records(root)
    lines = (root/'PH2_dataset.txt').read_text().splitlines()
    rows = [[c.strip() for c in l.split('||')[1:-1]] for l in lines]
    (root/'PH2_dataset.txt').write_text('\n'.join('\t'.join(r) for r in rows) + '\n')        # a tab-separated copy
    assert ph2_records(root)[1] == want and len(want) == 6
    (root/'PH2_dataset.txt').unlink()
    (root/'PH2_dataset.csv').write_text('\n'.join(','.join(r) for r in rows) + '\n')         # the .csv beside it
    assert ph2_records(root)[1] == want
    (root/'PH2_dataset.csv').write_text('Name,Diagnosis\nIMD002,1\n')
    _fails(lambda: ph2_records(root), 'PH2_dataset.csv', "no 'Clinical Diagnosis' column")


def test_ham10000_duplicate_ids_and_empty_lesion_ids(tmp_path):
    root = make_synthetic_ham10000(tmp_path/'ham', n_lesions=12, size=32)
    meta = root/'HAM10000_metadata.csv'
    text = meta.read_text()
    rows = text.splitlines()
    meta.write_text(text + rows[1] + '\n')                                              # one image_id twice
    _fails(lambda: ham10000_records(root), 'HAM10000_metadata.csv', 'is on 2 rows')
    head = rows[0].split(',')
    li = head.index('lesion_id')
    blank = [rows[0]] + [','.join('' if k == li else v for k, v in enumerate(r.split(','))) for r in rows[1:]]
    meta.write_text('\n'.join(blank) + '\n')                                           # no lesion ids at all
    train, valid = data_records(data_plan(dict(root=str(root), format='ham10000', valid_frac=0.3, test_frac=0.0)), log=lambda *_: None)
    dx = {r['image_id']: r['dx'] for r in read_table(meta)}
    for d in set(dx.values()):                                                         # a diagnosis is not one lesion
        n = sum(1 for r in train + valid if dx[r.id] == d)
        if n >= 4: assert 0 < sum(1 for r in valid if dx[r.id] == d) < n, d


def test_voc_lists_that_overlap_or_escape(tmp_path):
    voc = make_synthetic_voc(tmp_path/'voc', n=10, size=32)
    seg = voc/'ImageSets'/'Segmentation'
    first = seg.joinpath('train.txt').read_text().split()[0]
    seg.joinpath('val.txt').write_text(seg.joinpath('val.txt').read_text() + first + '\n')
    _fails(lambda: data_records(data_plan(dict(root=str(voc))), log=lambda *_: None), 'in both the training split', first)
    seg.joinpath('val.txt').write_text('../../secret\n')
    _fails(lambda: data_records(data_plan(dict(root=str(voc))), log=lambda *_: None), "id '../../secret' is a path")


def test_voc_holdout_and_too_few_images(tmp_path):
    voc = make_synthetic_voc(tmp_path/'voc', n=10, size=32)
    train, valid = data_records(data_plan(dict(root=str(voc), valid_split='holdout', valid_frac=0.25)), log=lambda *_: None)
    n_train = len(voc.joinpath('ImageSets', 'Segmentation', 'train.txt').read_text().split())
    assert len(valid) >= 1 and len(train) + len(valid) == n_train
    one = tmp_path/'one'; (one/'images').mkdir(parents=True); (one/'masks').mkdir()
    for p in sorted((voc/'JPEGImages').iterdir())[:1]:
        shutil.copy(p, one/'images'/p.name); shutil.copy(voc/'SegmentationClass'/f'{p.stem}.png', one/'masks'/f'{p.stem}.png')
    _fails(lambda: data_records(data_plan(dict(root=str(one), format='folder')), log=lambda *_: None), 'training split', 'is empty')


def test_folder_masks_beside_images_are_not_images(tmp_path):
    voc = make_synthetic_voc(tmp_path/'voc', n=6, size=32)
    d = tmp_path/'flat'; d.mkdir()
    for p in (voc/'JPEGImages').iterdir():
        shutil.copy(p, d/p.name); shutil.copy(voc/'SegmentationClass'/f'{p.stem}.png', d/f'{p.stem}_mask.png')
    train, valid = data_records(data_plan(dict(root=None, format='folder', image_dir=str(d), mask_dir=str(d))), log=lambda *_: None)
    assert len(train) + len(valid) == 6 and all(r.kind == 'binary' and r.mask.stem == f'{r.image.stem}_mask' for r in train + valid)


def test_coco_files_outside_sizes_and_categories(tmp_path):
    import json
    root = make_synthetic_coco(tmp_path/'coco', n=4, size=32)
    ann = root/'annotations.json'
    good = json.loads(ann.read_text())
    def with_(**change):
        ann.write_text(json.dumps({**good, **change}))
        return lambda: data_records(data_plan(dict(root=str(root), format='coco')), log=lambda *_: None)
    _fails(with_(images=[{**good['images'][0], 'file_name': '../../x.jpg'}] + good['images'][1:]), "file_name '../../x.jpg' points outside")
    _fails(with_(images=[{**good['images'][0], 'width': 999}] + good['images'][1:]), 'but its COCO entry says 999x32')
    _fails(with_(images={'a': 1}), "'images' must be a list, got dict")
    _fails(with_(annotations=[{**good['annotations'][0], 'category_id': 99}]), 'category_id 99', "not in 'categories'")


def test_library_readers_name_the_file(tmp_path):
    "dinov2_from_onnx on garbage, a peft adapter_config.json without r / lora_alpha or holding a list, undecodable metadata."
    import json, os
    from torch import nn
    from cdsam.weights import dinov2_from_onnx
    from cdsam.lora import load_peft
    (tmp_path/'g.onnx').write_bytes(os.urandom(300))
    _fails(lambda: dinov2_from_onnx(tmp_path/'g.onnx'), 'g.onnx is not an ONNX file')
    peft = tmp_path/'peft'; peft.mkdir(); (peft/'adapter_model.safetensors').write_bytes(b'')
    for cfg, words in (({'peft_type': 'LORA', 'lora_alpha': 8}, 'r must be a number'),
                       ({'peft_type': 'LORA', 'r': 4}, 'lora_alpha must be a number'), ([1, 2], 'must hold one JSON object')):
        (peft/'adapter_config.json').write_text(json.dumps(cfg))
        _fails(lambda: load_peft(nn.Linear(2, 2), peft), 'adapter_config.json', words)
    (tmp_path/'HAM10000_metadata.csv').write_bytes(b'lesion_id,image_id,dx\n\xff\xfe,x,mel\n')
    _fails(lambda: read_table(tmp_path/'HAM10000_metadata.csv'), 'HAM10000_metadata.csv is not UTF-8 text')
