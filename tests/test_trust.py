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
