"""Every console script driven as a user would, on generated data. As a subprocess: each script's `--help`, the demo
(the README's main job), a run killed mid-stage and resumed, and one bad input; the rest through the same installed
entry points in this process (`run_in_process`), which saves a torch import (seconds) per call."""
import csv, subprocess, shutil, time
from pathlib import Path
import numpy as np
import pytest, torch
from PIL import Image
from conftest import run, run_in_process, tiny_config
from cdsam.config import dump_config
from cdsam.checkpoint import read_checkpoint

SCRIPTS = ['cdsam-demo', 'cdsam-train', 'cdsam-bench', 'cdsam-eval-voc', 'cdsam-eval-dual-circle', 'cdsam-predict', 'cdsam-sam-encode', 'cdsam-export']

@pytest.mark.parametrize('script', SCRIPTS)
def test_help(script):
    r = run(script, '--help')
    assert r.returncode == 0 and 'usage:' in r.stdout and '--' in r.stdout

def test_demo_runs_all_stages_and_reports(tmp_path):
    t = time.time()
    r = run('cdsam-demo', '--output_dir', tmp_path/'demo', timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'demo: OK' in r.stdout and time.time() - t < 300
    rep = (tmp_path/'demo'/'report.md').read_text()
    assert rep.count('\n| ') == 5                                   # header + 4 stages
    for s in (1, 2, 3, 4):
        assert (tmp_path/'demo'/'experiments'/'demo'/'checkpoints'/f'stage{s}'/'best.pt').is_file()
        Image.open(tmp_path/'demo'/'experiments'/'demo'/f'stage{s}_curves.png').verify()
    Image.open(tmp_path/'demo'/'overlays.png').verify()

def test_train_chain_writes_checkpoints_history_curves(data, tmp_path):
    cfg = tmp_path/'c.yaml'; cfg.write_text(dump_config(tiny_config(data['voc'], tmp_path/'exp')))
    r = run_in_process('cdsam-train', '--config', cfg, '--stages', '1-2', 'optim.lr=2e-3', 'checkpoint.keep_per_epoch=true')
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path/'exp'/'t'
    for s in (1, 2):
        ck = read_checkpoint(run_dir/'checkpoints'/f'stage{s}'/'latest.pt')
        assert ck['meta']['stage'] == s and ck['meta']['config']['optim']['lr'] == 2e-3
        torch.load(run_dir/'checkpoints'/f'stage{s}'/'best.pt', weights_only=True)
        assert read_checkpoint(run_dir/'checkpoints'/f'stage{s}'/'epoch_001.pt')['meta']['epoch'] == 1
        Image.open(run_dir/f'stage{s}_curves.png').verify()
        assert next(csv.reader(open(run_dir/f'stage{s}_history.csv')))[:3] == ['epoch', 'train_loss', 'valid_loss']
    assert 'stage 2' in r.stdout and 'LoRA layers' in r.stdout
    assert '█' not in r.stdout and 'epoch  train_loss  valid_loss  dice  iou  time' in r.stdout      # a log: one line per epoch

def test_train_interrupted_then_resumed(data, tmp_path):
    c = tiny_config(data['voc'], tmp_path/'exp', optim=dict(epochs=20))
    cfg = tmp_path/'c.yaml'; cfg.write_text(dump_config(c))
    latest = tmp_path/'exp'/'t'/'checkpoints'/'stage1'/'latest.pt'
    p = subprocess.Popen([shutil.which('cdsam-train'), '--config', str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.time()
    while not latest.is_file() and time.time() - t < 120 and p.poll() is None: time.sleep(0.2)
    time.sleep(0.5); p.kill(); p.wait()                           # a crash mid-run
    done = read_checkpoint(latest)['meta']['epoch']
    assert 1 <= done < 20, done
    r = run_in_process('cdsam-train', '--config', cfg, '--resume')
    assert r.returncode == 0, r.stderr
    assert f'resumed after epoch {done}' in r.stdout
    assert read_checkpoint(latest)['meta']['epoch'] == 20
    assert not [f for f in latest.parent.iterdir() if f.name.startswith('.')]     # no temp files left

def test_eval_voc(trained, data, tmp_path):
    out = tmp_path/'scores.csv'
    r = run_in_process('cdsam-eval-voc', '--checkpoint', trained['ckpt'], '--root', data['voc'], '--split', 'val', '--threshold', '0.5',
            '--text', 'skin lesion', '--output_csv', out, '--save_preds', tmp_path/'preds')
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == ['id', 'image', 'iou', 'dice', 'accuracy', 'precision', 'recall', 'f1'] and len(rows) >= 2
    assert all(0 <= float(x['dice']) <= 1 for x in rows)
    m = np.asarray(Image.open(tmp_path/'preds'/f"{rows[0]['id']}.png")); assert set(np.unique(m)) <= {0, 255}
    assert 'micro' in r.stdout and 'mean' in r.stdout and 'original resolution' in r.stdout
    imgs = data['voc']/'JPEGImages'                                   # scored at each image's own size (4:3 images)
    for row in rows: assert Image.open(tmp_path/'preds'/f"{row['id']}.png").size == Image.open(row['image']).size != (64, 64)
    r = run_in_process('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', imgs, '--output_dir', tmp_path/'p')
    assert r.returncode == 0, r.stderr                              # cdsam-predict writes the same masks eval-voc scored
    for row in rows:
        assert (np.asarray(Image.open(tmp_path/'preds'/f"{row['id']}.png")) == np.asarray(Image.open(tmp_path/'p'/'masks'/f"{row['id']}.png"))).all()
    lst = tmp_path/'ids.txt'; lst.write_text(rows[0]['id'] + '\n')                     # --split as a list file
    r = run_in_process('cdsam-eval-voc', '--checkpoint', trained['ckpt'], '--root', data['voc'], '--split', lst)
    assert r.returncode == 0 and '1 images' in r.stdout

def test_eval_dual_circle(trained, data, tmp_path):
    dc = data['dc']
    r = run_in_process('cdsam-eval-dual-circle', '--checkpoint', trained['ckpt'], '--image_dir', dc/'images', '--circle_dir', dc/'circles',
            '--ignore_rect_dir', dc/'ignore', '--text', 'skin lesion', '--output_csv', tmp_path/'dc.csv', '--visualize',
            '--vis_output_dir', tmp_path/'vis')
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path/'dc.csv')))
    assert len(rows) == 3 and {'tp', 'fn', 'fp', 'tn', 'precision', 'recall', 'f1', 'accuracy'} <= set(rows[0])
    for p in (tmp_path/'vis').iterdir(): Image.open(p).verify()
    assert 'precision' in r.stdout

def test_predict_folder_list_tiles_points_pseudo(trained, data, tmp_path):
    imgs = data['voc']/'JPEGImages'
    r = run_in_process('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', imgs, '--output_dir', tmp_path/'p', '--opacity', '0.6',
            '--tile', '64', '--overlap', '0.5', '--tta', '--pseudo_labels', tmp_path/'pl', '--min_confidence', '0.5')
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path/'p'/'masks').iterdir())) == 16
    for d in ('masks', 'overlays'): Image.open(next((tmp_path/'p'/d).iterdir())).verify()
    rows = list(csv.DictReader(open(tmp_path/'p'/'scores.csv')))
    assert list(rows[0]) == ['image', 'mask', 'score', 'confidence', 'fraction', 'area', 'error']
    ids = (tmp_path/'pl'/'ImageSets'/'Segmentation'/'train.txt').read_text().split()
    assert all((tmp_path/'pl'/'SegmentationClass'/f'{i}.png').is_file() for i in ids)
    one = next(imgs.iterdir())
    lst = tmp_path/'l.txt'; lst.write_text(f'{one}\n')
    r = run_in_process('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', lst, '--output_dir', tmp_path/'q', '--text', '',
            '--points', '32,32,1;2,2,0', '--box', '10,10,50,50')
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path/'q'/'masks'/f'{one.stem}.png').size == Image.open(one).size

def test_sam_encode_resumable(data, tmp_path):
    from cdsam.sam import sam_image_encoder
    enc = sam_image_encoder('tiny')                                  # an official-layout file: image_encoder.* + other keys
    sd = {f'image_encoder.{k}': v for k, v in enc.state_dict().items()}; sd['mask_decoder.x'] = torch.zeros(1)
    torch.save(sd, tmp_path/'sam_tiny.pth')
    args = ['--sam_type', 'tiny', '--checkpoint', tmp_path/'sam_tiny.pth', '--input_dir', data['voc']/'JPEGImages', '--output_dir', tmp_path/'e', '--batch_size', '3']
    r = run_in_process('cdsam-sam-encode', *args)
    assert r.returncode == 0, r.stderr
    e = torch.load(next((tmp_path/'e').glob('*.pt')), weights_only=True)
    assert e.shape == (256, 4, 4)
    r = run_in_process('cdsam-sam-encode', *args)
    assert '16 already encoded, 0 to do' in r.stdout
    # issue #34: a rerun with another encoder (or a checkpoint that is not there) never passes the old embeddings off as its own
    r = run_in_process('cdsam-sam-encode', *[x if x != 'tiny' else 'vit_b' for x in args])
    assert r.returncode == 2 and "sam_type: 'tiny' then, 'vit_b' now" in r.stderr, r.stderr
    r = run_in_process('cdsam-sam-encode', *[x if x != tmp_path/'sam_tiny.pth' else tmp_path/'missing.pth' for x in args])
    assert r.returncode == 2 and '--checkpoint not found' in r.stderr, r.stderr

def test_export_merged(trained, tmp_path):
    r = run_in_process('cdsam-export', '--checkpoint', trained['ckpt'], '--output', tmp_path/'m.safetensors')
    assert r.returncode == 0, r.stderr
    assert read_checkpoint(tmp_path/'m.safetensors')['meta']['lora'] == {}

# ---- bad input: one line naming the thing, exit code != 0, no traceback ----
def _bad(r, *needles):
    assert r.returncode != 0, r.stdout
    assert 'Traceback' not in r.stderr, r.stderr
    line = [l for l in r.stderr.strip().splitlines() if 'error:' in l]
    assert line and all(n in line[-1] for n in needles), r.stderr

def test_bad_inputs(trained, data, tmp_path):
    cases = []                                                      # (command args), needles...
    cases.append((('cdsam-train', '--config', tmp_path/'missing.yaml'), 'config file not found', 'missing.yaml'))
    (tmp_path/'broken.yaml').write_text('optim: [1, 2\n')
    cases.append((('cdsam-train', '--config', tmp_path/'broken.yaml'), 'not valid YAML'))
    (tmp_path/'noroot.yaml').write_text(dump_config(tiny_config(tmp_path/'nowhere', tmp_path/'exp')))
    cases.append((('cdsam-train', '--config', tmp_path/'noroot.yaml'), 'data root not found', 'nowhere'))
    cases.append((('cdsam-train', '--config', trained['config'], 'optim.lrr=1'), "unknown config key 'optim.lrr'", "did you mean 'lr'"))
    cases.append((('cdsam-train', '--config', trained['config'], '--init', tmp_path/'none.pt'), '--init checkpoint not found'))
    cases.append((('cdsam-eval-voc', '--checkpoint', tmp_path/'none.pt'), 'checkpoint not found'))
    cases.append((('cdsam-eval-voc', '--checkpoint', trained['ckpt'], '--split', 'nosuchsplit'), 'split list file not found', 'nosuchsplit.txt'))
    torch.save({'w': torch.zeros(2)}, tmp_path/'foreign.pt')
    cases.append((('cdsam-predict', '--checkpoint', tmp_path/'foreign.pt', '--input', data['voc']/'JPEGImages', '--output_dir', tmp_path/'o'),
         'is not a cdsam checkpoint'))
    other = tiny_config(data['voc'], tmp_path/'exp'); other['model']['dino']['kwargs'] = dict(depth=2, embed_dim=48, num_heads=2, init_values=1.0)
    (tmp_path/'other.yaml').write_text(dump_config(other))
    cases.append((('cdsam-eval-voc', '--checkpoint', trained['ckpt'], '--config', tmp_path/'other.yaml'), 'does not match the model', 'shape mismatches'))
    (tmp_path/'empty').mkdir()
    cases.append((('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', tmp_path/'empty', '--output_dir', tmp_path/'o'), 'no images', 'empty'))
    cases.append((('cdsam-sam-encode', '--sam_type', 'tiny', '--input_dir', tmp_path/'empty', '--output_dir', tmp_path/'o'), 'no images'))
    cases.append((('cdsam-sam-encode', '--sam_type', 'vit_b', '--input_dir', tmp_path/'empty', '--output_dir', tmp_path/'o'), '--checkpoint is required'))
    stage2 = tiny_config(data['voc'], tmp_path/'exp2', stage=dict(id=2)); (tmp_path/'s2.yaml').write_text(dump_config(stage2))
    latest = Path(trained['ckpt']).with_name('latest.pt')
    d = tmp_path/'exp2'/'t'/'checkpoints'/'stage2'; d.mkdir(parents=True); shutil.copy(latest, d/'latest.pt')
    cases.append((('cdsam-train', '--config', tmp_path/'s2.yaml', '--resume'), 'is a stage 1 checkpoint but the config trains stage 2', 'use init='))
    for args, *needles in cases: _bad(run_in_process(*args), *needles)
    _bad(run(*cases[3][0]), *cases[3][1:])                          # and one as a real subprocess
