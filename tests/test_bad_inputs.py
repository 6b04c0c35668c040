"""Careless or hostile input, through the console scripts' own entry points (in-process): nothing is lost, and every bad
input gets one line that names the file, key or option and what was expected. `CASES` is the table: arguments, then the
words the one-line message must contain."""
import csv, json, os, pickle, shutil
from pathlib import Path
import numpy as np
import pytest, torch
from PIL import Image
from conftest import run_in_process, tiny_config
from cdsam.config import dump_config
from cdsam.files import save_state, load_state
from cdsam.checkpoint import read_checkpoint

def one_line(r, *needles):
    "Failed, with no traceback, and the last `error:` line holds every needle."
    assert r.returncode != 0, r.stdout + r.stderr
    assert 'Traceback' not in r.stderr, r.stderr
    lines = [l for l in r.stderr.strip().splitlines() if 'error:' in l]
    assert lines and all(n in lines[-1] for n in needles), (needles, r.stderr)
    assert 'weights_only=False' not in r.stderr                          # never suggest unsafe loading

@pytest.fixture(scope='module')
def files(trained, data, tmp_path_factory):
    d = tmp_path_factory.mktemp('bad')
    (d/'bomb.yaml').write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + ''.join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip('abcdefgh', 'bcdefghi'))
        + "model: {clip: {templates: *i}}\n")
    (d/'binary.yaml').write_bytes(bytes(range(256)) * 8)
    (d/'noise.pt').write_bytes(os.urandom(512))
    class Evil:
        def __reduce__(self): return (os.system, ('echo pwned',))
    (d/'evil.pt').write_bytes(pickle.dumps({'w': Evil()}))
    st, md = load_state(trained['ckpt'])
    save_state(st, d/'badjson.safetensors', metadata={'cdsam': '{not json'})
    save_state(st, d/'nofields.safetensors', metadata={'cdsam': json.dumps({'version': 1, 'stage': 1})})
    (d/'afile').write_text('x'); (d/'adir').mkdir()
    c = dict(config=trained['config'], ckpt=trained['ckpt'], voc=data['voc'], d=d)
    for name, section in (('epochs_ten', dict(optim=dict(epochs='ten'))), ('epochs_neg', dict(optim=dict(epochs=-2))),
                          ('bs0', dict(data=dict(root=str(data['voc']), batch_size=0))), ('bs25', dict(data=dict(root=str(data['voc']), batch_size=2.5))),
                          ('lr_abc', dict(optim=dict(lr='abc'))), ('optim3', dict(optim=3)), ('per_stage5', dict(per_stage=5)), ('base5', dict(base=5))):
        (d/f'{name}.yaml').write_text(dump_config(section))
    return c

CASES = [  # (script, args with {placeholders}), message words
    (('cdsam-train', '--config', '{d}/bomb.yaml'), ['bomb.yaml', 'repeated YAML aliases']),
    (('cdsam-train', '--config', '{d}/binary.yaml'), ['binary.yaml', 'not a text']),
    (('cdsam-train', '--config', '{d}/epochs_ten.yaml'), ["'optim.epochs' must be an integer", "'ten'"]),
    (('cdsam-train', '--config', '{d}/epochs_neg.yaml'), ["'optim.epochs' must be in [1, 100000]"]),
    (('cdsam-train', '--config', '{d}/bs0.yaml'), ["'data.batch_size' must be in [1, 65536]"]),
    (('cdsam-train', '--config', '{d}/bs25.yaml'), ["'data.batch_size' must be an integer"]),
    (('cdsam-train', '--config', '{d}/lr_abc.yaml'), ["'optim.lr' must be a number"]),
    (('cdsam-train', '--config', '{d}/optim3.yaml'), ["'optim' must be a section"]),
    (('cdsam-train', '--config', '{d}/per_stage5.yaml'), ["'per_stage' must be a section"]),
    (('cdsam-train', '--config', '{d}/base5.yaml'), ['base must be the path']),
    (('cdsam-train', '--config', '{config}', 'optim.lr.x=1'), ['optim.lr is a value, not a section']),
    (('cdsam-export', '--checkpoint', '{ckpt}', '--output', '{ckpt}'), ['is the input checkpoint']),
    (('cdsam-export', '--checkpoint', '{ckpt}', '--output', '{d}/adir'), ['adir is a folder']),
    (('cdsam-export', '--checkpoint', '{ckpt}', '--output', '{d}/afile'), ['afile exists: give --force']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--device', 'cuda'), ['--device cuda', 'no CUDA GPU']),
    (('cdsam-eval-voc', '--checkpoint', '{ckpt}', '--save_preds', '{d}/afile'), ['--save_preds', 'afile', 'must be a folder']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--tile', '-16'), ['--tile', 'must be >= 1']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--points', 'a,b'), ['--points', "'a,b'"]),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--threshold', '2'), ['--threshold', 'must be in (0, 1)']),
    (('cdsam-eval-voc', '--checkpoint', '{d}/badjson.safetensors'), ['badjson.safetensors', 'not a valid cdsam checkpoint', 'not valid JSON']),
    (('cdsam-eval-voc', '--checkpoint', '{d}/nofields.safetensors'), ['nofields.safetensors', 'lacks epoch, config, lora']),
    (('cdsam-eval-voc', '--checkpoint', '{d}/noise.pt'), ['noise.pt', 'not a valid or safe']),
    (('cdsam-eval-voc', '--checkpoint', '{d}/evil.pt'), ['evil.pt', 'not a valid or safe']),
]

@pytest.mark.parametrize('args,needles', CASES, ids=lambda x: ' '.join(x[:1] + x[-2:]) if isinstance(x, tuple) else None)
def test_one_line(files, args, needles):
    one_line(run_in_process(*[a.format(**files) for a in args]), *needles)

def test_export_never_replaces_a_training_checkpoint(files, tmp_path):
    victim = tmp_path/'latest.pt'; shutil.copy(Path(files['ckpt']).with_name('latest.pt'), victim)
    before = victim.read_bytes()
    one_line(run_in_process('cdsam-export', '--checkpoint', files['ckpt'], '--output', victim, '--force'), 'is a training checkpoint')
    assert victim.read_bytes() == before
    out = tmp_path/'m.safetensors'
    assert run_in_process('cdsam-export', '--checkpoint', files['ckpt'], '--output', out).returncode == 0
    assert run_in_process('cdsam-export', '--checkpoint', files['ckpt'], '--output', out, '--force').returncode == 0

def test_disk_full_is_one_line_and_keeps_the_old_file(files, tmp_path, monkeypatch):
    out = tmp_path/'m.pt'; out.write_bytes(b'old')
    def full(*a, **k): raise RuntimeError('[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file: file write failed')
    monkeypatch.setattr(torch, 'save', full)
    one_line(run_in_process('cdsam-export', '--checkpoint', files['ckpt'], '--output', out, '--force'), 'no space left on the device writing', 'm.pt')
    assert out.read_bytes() == b'old' and [p.name for p in tmp_path.iterdir()] == ['m.pt']

def test_predict_same_stem_and_unreadable_images(files, tmp_path):
    src = tmp_path/'in'; src.mkdir()
    one = next((files['voc']/'JPEGImages').iterdir())
    shutil.copy(one, src/'x.jpg'); Image.open(one).save(src/'x.png'); (src/'y.jpg').write_bytes(b'not an image')
    r = run_in_process('cdsam-predict', '--checkpoint', files['ckpt'], '--input', src, '--output_dir', tmp_path/'o')
    assert r.returncode == 1 and 'skipped image' in r.stderr and 'y.jpg' in r.stderr, r.stderr
    rows = list(csv.DictReader(open(tmp_path/'o'/'scores.csv')))
    assert [Path(x['mask']).name for x in rows if x['mask']] == ['x_jpg.png', 'x_png.png'] and len(rows) == 3
    assert [x['error'] for x in rows if x['image'].endswith('y.jpg')] == ['unreadable (UnidentifiedImageError)']
    one_line(run_in_process('cdsam-predict', '--checkpoint', files['ckpt'], '--input', src, '--output_dir', tmp_path/'s', '--strict'),
             'unreadable image', 'y.jpg')
    r = run_in_process('cdsam-sam-encode', '--sam_type', 'tiny', '--input_dir', src, '--output_dir', tmp_path/'e')
    assert r.returncode == 1 and 'y.jpg' in r.stderr and len(list((tmp_path/'e').iterdir())) == 2

def test_eval_voc_skip_bad(files, tmp_path):
    voc = tmp_path/'voc'; shutil.copytree(files['voc'], voc)
    bad = (voc/'ImageSets'/'Segmentation'/'val.txt').read_text().split()[0]
    (voc/'JPEGImages'/f'{bad}.jpg').write_bytes(b'broken')
    one_line(run_in_process('cdsam-eval-voc', '--checkpoint', files['ckpt'], '--root', voc), 'unreadable image', bad)
    r = run_in_process('cdsam-eval-voc', '--checkpoint', files['ckpt'], '--root', voc, '--skip_bad')
    assert r.returncode == 0 and 'micro' in r.stdout and bad in r.stderr

def test_rejected_run_keeps_config_yaml_and_overrides_go_anywhere(files, data, tmp_path):
    c = tiny_config(data['voc'], tmp_path/'exp', optim=dict(epochs=2))
    cfg = tmp_path/'c.yaml'; cfg.write_text(dump_config(c))
    assert run_in_process('cdsam-train', '--config', cfg).returncode == 0
    saved = (tmp_path/'exp'/'t'/'config.yaml').read_text()
    ck = tmp_path/'exp'/'t'/'checkpoints'; (ck/'stage2').mkdir(); shutil.copy(ck/'stage1'/'latest.pt', ck/'stage2'/'latest.pt')
    one_line(run_in_process('cdsam-train', '--config', cfg, '--resume', 'stage.id=2'), 'is a stage 1 checkpoint')
    (tmp_path/'empty.yaml').write_text('run: {name: t, output_dir: ' + str(tmp_path/'exp') + '}\n')
    one_line(run_in_process('cdsam-train', '--config', tmp_path/'empty.yaml'), 'data.root is not set')
    assert (tmp_path/'exp'/'t'/'config.yaml').read_text() == saved                 # neither rejected run wrote it
    r = run_in_process('cdsam-train', '--config', cfg, 'run.name=t', '--resume', 'optim.epochs=4')   # overrides before and after
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(open(tmp_path/'exp'/'t'/'stage1_history.csv')))
    assert rows[0][:3] == ['epoch', 'train_loss', 'valid_loss'] and [x[0] for x in rows[1:]] == ['0', '1', '2', '3'], rows
