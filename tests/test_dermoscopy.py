"""The public dermoscopy downloads read as they come (issue #22): generated ISIC, HAM10000 and PH2 layouts trained and
evaluated through the console scripts; EXIF-rotated photographs predicted in line with the image a viewer shows; the
random-weights warning; and, when ../shared/data/isic2018-dev is present, the real ISIC 2018 layout as it is."""
import csv, warnings
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from conftest import run_in_process, tiny_config
from cdsam.config import dump_config
from cdsam.records import read_table, read_split_ids
from cdsam.synthetic import make_synthetic_isic, make_synthetic_ham10000, make_synthetic_ph2

ISIC_DEV = Path(__file__).resolve().parents[2]/'shared'/'data'/'isic2018-dev'

def train(tmp_path, root, **data):
    c = tiny_config(root, tmp_path/'exp')
    c['data'].update(data)
    cfg = tmp_path/'c.yaml'
    cfg.write_text(dump_config(c))
    r = run_in_process('cdsam-train', '--config', cfg)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return tmp_path/'exp'/'t', r

@pytest.mark.parametrize('fmt', ['isic', 'ham10000', 'ph2'])
def test_download_layouts_train_and_evaluate(tmp_path, fmt):
    make = dict(isic=lambda d: make_synthetic_isic(d, n={'Training': 12, 'Validation': 4}, size=48, year=2017),
                ham10000=lambda d: make_synthetic_ham10000(d, n_lesions=16, size=48),
                ph2=lambda d: make_synthetic_ph2(d, n=14, size=48))[fmt]
    root = make(tmp_path/fmt)
    run_dir, r = train(tmp_path, root)                                     # data.format: auto
    ck = run_dir/'checkpoints'/'stage1'/'best.pt'
    assert ck.is_file()
    if fmt == 'isic':                                                      # the download's own folders, saved as the run read them
        assert sorted(p.name for p in (run_dir/'splits').iterdir()) == ['train.txt', 'val.txt']
        assert len(read_split_ids(run_dir/'splits'/'train.txt')) == 12
        split = 'val'
    else:                                                                  # a seeded split, saved with the run
        assert sorted(p.name for p in (run_dir/'splits').iterdir()) == ['test.txt', 'train.txt', 'val.txt']
        split = str(run_dir/'splits'/'test.txt')
    if fmt == 'ham10000':
        meta = {row['image_id']: row['lesion_id'] for row in read_table(root/'HAM10000_metadata.csv')}
        lesions = {s: {meta[i] for i in read_split_ids(run_dir/'splits'/f'{s}.txt')} for s in ('train', 'val', 'test')}
        assert not (lesions['train'] & lesions['val'] or lesions['train'] & lesions['test'] or lesions['val'] & lesions['test'])
        assert sum(len(read_split_ids(run_dir/'splits'/f'{s}.txt')) for s in ('train', 'val', 'test')) == len(meta)
    out = tmp_path/'scores.csv'
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--split', split, '--output_csv', out, '--by_size')
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(out)))
    expected = 4 if fmt == 'isic' else len(read_split_ids(split))
    assert len(rows) == expected and 'pred/true area' in r.stdout
    assert f"split {split!r}" in r.stdout and 'whole images scored at their original resolution' in r.stdout

def test_eval_never_scores_images_the_run_trained_on(tmp_path):
    "Issue #34: eval scores the lists the run saved, and refuses a split whose images the run trained on."
    ham = make_synthetic_ham10000(tmp_path/'ham', n_lesions=16, size=48)
    (tmp_path/'h').mkdir(); (tmp_path/'i').mkdir()
    run_dir, _ = train(tmp_path/'h', ham, valid_split='holdout')           # trains on everything but a holdout
    ck = run_dir/'checkpoints'/'stage1'/'best.pt'
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--split', 'test')
    assert r.returncode == 2 and 'training split' in r.stderr and 'splits/train.txt' in r.stderr, r.stderr
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--split', 'holdout')  # the split it set aside: exactly its list
    assert r.returncode == 0 and f"{len(read_split_ids(run_dir/'splits'/'holdout.txt'))} images" in r.stdout, r.stderr
    isic = make_synthetic_isic(tmp_path/'isic', n={'Training': 10, 'Validation': 3}, size=48, year=2018)
    run_dir, _ = train(tmp_path/'i', isic)                                  # Training + Validation, no Test folder
    r = run_in_process('cdsam-eval', '--checkpoint', run_dir/'checkpoints'/'stage1'/'best.pt', '--split', 'test')
    assert r.returncode == 2 and 'training split' in r.stderr and 'splits/train.txt' in r.stderr, r.stderr
    isic_h = make_synthetic_isic(tmp_path/'isic_h', n={'Training': 10, 'Validation': 3}, size=48, year=2018)
    (tmp_path/'ih').mkdir()
    run_h, _ = train(tmp_path/'ih', isic_h, valid_split='holdout')          # the recipe's layout: a holdout of Training
    r = run_in_process('cdsam-eval', '--checkpoint', run_h/'checkpoints'/'stage1'/'best.pt', '--split', 'holdout')
    assert r.returncode == 0 and f"{len(read_split_ids(run_h/'splits'/'holdout.txt'))} images" in r.stdout, r.stderr
    r = run_in_process('cdsam-eval', '--checkpoint', run_dir/'checkpoints'/'stage1'/'best.pt', '--split', '/etc/passwd')
    assert r.returncode == 2 and '--split must be a split name' in r.stderr and 'root:' not in r.stderr, r.stderr

def test_unpaired_masks_are_one_line(tmp_path):
    root = make_synthetic_isic(tmp_path/'isic', n=5, size=32, splits=('Training',))
    gt = root/'ISIC2018_Task1_Training_GroundTruth'
    for p in gt.glob('*_segmentation.png'): p.rename(p.with_name(p.name.replace('_segmentation', '_mask')))
    c = tmp_path/'c.yaml'
    c.write_text(dump_config(tiny_config(root, tmp_path/'exp')))
    r = run_in_process('cdsam-train', '--config', c)
    assert r.returncode == 2
    line = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(line) == 1 and '5 of 5 images have no mask (5 masks in' in line[0]
    assert 'first unpaired image ISIC_0000000.jpg, expected mask ISIC_0000000_segmentation.png' in line[0]

def test_random_weights_warning_names_the_keys(tmp_path):
    root = make_synthetic_ph2(tmp_path/'ph2', n=6, size=32)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        import cdsam.model
        cdsam.model._WARNED_RANDOM.clear()
        train(tmp_path, root)
    msgs = [str(x.message) for x in w if 'random weights' in str(x.message)]
    assert len(msgs) == 1, msgs
    assert 'model.dino.pretrained / model.dino.checkpoint' in msgs[0] and 'model.sam.checkpoint' in msgs[0] and 'cdsam.weights' in msgs[0]

def test_exif_rotated_photo_predicted_aligned(tmp_path, data, trained):
    "A phone photograph stored sideways (EXIF Orientation=6) gets the mask of the upright image, at the upright size."
    up = np.asarray(Image.open(sorted((data['voc']/'JPEGImages').iterdir())[0]).convert('RGB'))   # 64x85, upright
    (tmp_path/'in').mkdir()
    Image.fromarray(up).save(tmp_path/'in'/'upright.png')
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(up, 1)))                                # stored turned left
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(tmp_path/'in'/'phone.png', exif=exif.tobytes())
    r = run_in_process('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', tmp_path/'in', '--output_dir', tmp_path/'out')
    assert r.returncode == 0, r.stderr
    a, b = (np.asarray(Image.open(tmp_path/'out'/'masks'/f'{n}.png')) for n in ('upright', 'phone'))
    assert a.shape == b.shape == up.shape[:2]
    assert (a == b).all()
    oa, ob = (np.asarray(Image.open(tmp_path/'out'/'overlays'/f'{n}.png')) for n in ('upright', 'phone'))
    assert (oa == ob).all() and np.abs(oa.astype(int) - up).mean() < 60       # the overlay is the upright photograph

@pytest.mark.skipif(not ISIC_DEV.is_dir(), reason='../shared/data/isic2018-dev is not here')
def test_isic2018_dev_as_it_is(tmp_path):
    "The real ISIC 2018 folders (with their LICENSE.txt files) train with data.format: isic, unchanged."
    run_dir, r = train(tmp_path, ISIC_DEV, format='isic', valid_split='holdout', valid_frac=0.1, batch_size=16)
    assert 'train 360, holdout 40 images' in r.stdout
    assert len(read_split_ids(run_dir/'splits'/'holdout.txt')) == 40
    r = run_in_process('cdsam-eval', '--checkpoint', run_dir/'checkpoints'/'stage1'/'best.pt', '--split', 'val', '--score', 'crop')
    assert r.returncode == 0 and "100 images of split 'val'" in r.stdout, r.stderr

@pytest.mark.slow
def test_isic2018_recipe_trains_end_to_end(tmp_path):
    "configs/isic2018.yaml: `cdsam-train --config configs/isic2018.yaml data.root=...` trains its stages (run.stages: 1-3)."
    root = make_synthetic_isic(tmp_path/'isic', n={'Training': 10, 'Validation': 3}, size=60)
    cfg = Path(__file__).resolve().parents[1]/'configs'/'isic2018.yaml'
    r = run_in_process('cdsam-train', '--config', cfg, f'data.root={root}', f'run.output_dir={tmp_path/"exp"}', 'data.batch_size=4',
                       'per_stage={1: {optim: {epochs: 1}}, 2: {optim: {epochs: 1}}, 3: {optim: {epochs: 1}}}')
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    run = tmp_path/'exp'/'isic2018'
    assert all((run/'checkpoints'/f'stage{s}'/'best.pt').is_file() for s in (1, 2, 3))    # (lowest training loss)
    assert not (run/'splits'/'holdout.txt').exists() and 'outputs of 10 images' in r.stdout   # every Training image
    r = run_in_process('cdsam-eval', '--checkpoint', run/'checkpoints'/'stage3'/'best.pt', '--split', 'val', '--by_size')
    assert r.returncode == 0 and 'post-processing: TTA d8' in r.stdout.splitlines()[0], r.stdout + r.stderr
