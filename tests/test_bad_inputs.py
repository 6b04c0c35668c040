"""Careless or hostile input, through the console scripts' own entry points (in-process): nothing is lost, and every bad
input gets one line that names the file, key or option and what was expected. `CASES` is the table: arguments, then the
words the one-line message must contain."""
import csv, json, os, pickle, shutil
from pathlib import Path
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
    (d/'garbage.onnx').write_bytes(os.urandom(300)); (d/'lr_inf.yaml').write_text('optim: {lr: .inf}\n')
    ck = read_checkpoint(trained['ckpt'])
    nan = {f'model.{k}': v.clone() for k, v in ck['model'].items()}
    next(v for k, v in nan.items() if v.is_floating_point()).view(-1)[0] = float('nan')
    save_state(nan, d/'nan.pt', metadata={'cdsam': json.dumps(ck['meta'])})
    old = {k: v for k, v in ck['meta'].items() if k != 'info'}                # a checkpoint from before ModelInfo
    save_state({f'model.{k}': v for k, v in ck['model'].items()}, d/'std0.pt', metadata={'cdsam': json.dumps({**old, 'stats': [[0.5] * 3, [0.2, 0.0, 0.2]]})})
    save_state({f'model.{k}': v for k, v in ck['model'].items()}, d/'std0info.pt', metadata={'cdsam': json.dumps({**ck['meta'], 'info': {**ck['meta']['info'], 'std': [0.2, 0.0, 0.2]}})})
    huge = json.loads(json.dumps(ck['meta']))
    huge['config']['model']['clip']['model_cfg'] = {**(huge['config']['model']['clip']['model_cfg'] or {}), 'embed_dim': 200000}
    save_state({f'model.{k}': v for k, v in ck['model'].items()}, d/'huge.pt', metadata={'cdsam': json.dumps(huge)})
    import onnx
    from cdsam.deploy import export_onnx
    m = onnx.load(str(export_onnx(trained['ckpt'], d/'m.onnx')))
    for prop in m.metadata_props:
        if prop.key == 'cdsam': prop.value = json.dumps({**json.loads(prop.value), 'size': 100000})
    onnx.save(m, str(d/'big.onnx'))
    (d/'res').mkdir(); (d/'res'/'scores.csv').write_bytes(b'\xff\xfe\x00garbage\x81')
    c = dict(config=trained['config'], ckpt=trained['ckpt'], voc=data['voc'], d=d, digits='9' * 400, long='x' * 300)
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
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--tile', '-16'), ['--tile', 'must be >= 64 pixels', 'got -16']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--points', 'a,b'), ['--points', "'a,b'"]),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--threshold', '2'), ['--threshold', 'must be in (0, 1)']),
    (('cdsam-eval-voc', '--checkpoint', '{d}/badjson.safetensors'), ['badjson.safetensors', 'not a valid cdsam checkpoint', 'not valid JSON']),
    (('cdsam-eval-voc', '--checkpoint', '{d}/nofields.safetensors'), ['nofields.safetensors', 'lacks epoch, config, lora']),
    (('cdsam-eval-voc', '--checkpoint', '{d}/noise.pt'), ['noise.pt', 'not a valid or safe']),
    (('cdsam-eval-voc', '--checkpoint', '{d}/evil.pt'), ['evil.pt', 'not a valid or safe']),
    # issue #26, third pass: silent wrong, tracebacks and unclear messages, each now one line
    (('cdsam-eval-voc', '--checkpoint', '{d}/nan.pt'), ['nan.pt holds non-finite weights', 'use an earlier checkpoint']),
    (('cdsam-export', '--checkpoint', '{d}/nan.pt', '--output', '{d}/nan.onnx'), ['nan.pt holds non-finite weights']),
    (('cdsam-train', '--config', '{config}', '--init', '{d}/nan.pt'), ['nan.pt holds non-finite weights']),
    (('cdsam-predict', '--checkpoint', '{d}/std0.pt', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o'), ['std0.pt has unusable normalisation stats', 'std > 0']),
    (('cdsam-predict', '--checkpoint', '{d}/std0info.pt', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o'), ['std0info.pt: model info std must be three finite numbers > 0']),
    (('cdsam-train', '--config', '{config}', 'per_stage.7.optim.epochs=2'), ["'per_stage.7' must be a stage id (1, 2, 3, 4)"]),
    (('cdsam-train', '--config', '{config}', 'per_stage.2.optim.epochs=-1'), ["'per_stage.2.optim.epochs' must be in [1, 100000]"]),
    (('cdsam-train', '--config', '{config}', 'optim.epochs=1e308'), ["'optim.epochs' must be in [1, 100000]"]),
    (('cdsam-train', '--config', '{config}', 'data.batch_size=1e20'), ["'data.batch_size' must be in [1, 65536]"]),
    (('cdsam-train', '--config', '{config}', 'data.crop=3'), ["'data.crop' must be in [16, 8192] pixels"]),
    (('cdsam-train', '--config', '{config}', 'data.crop=100000'), ["'data.crop' must be in [16, 8192] pixels"]),
    (('cdsam-train', '--config', '{d}/lr_inf.yaml'), ["'optim.lr' must be a finite number"]),
    (('cdsam-train', '--config', '{config}', 'run.name=../x'), ["config key 'run.name' must be a plain name"]),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--device', 'banana'), ['--device banana: not a device']),
    (('cdsam-predict', '--checkpoint', '{d}/garbage.onnx', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o'), ['garbage.onnx is an ONNX file', '--runtime onnx']),
    (('cdsam-predict', '--runtime', 'onnx', '--checkpoint', '{d}/garbage.onnx', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o'), ['garbage.onnx is not an ONNX model onnxruntime can load']),
    (('cdsam-predict', '--runtime', 'onnx', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o'), ['is not an ONNX model onnxruntime can load']),
    (('cdsam-predict', '--runtime', 'onnx', '--checkpoint', '{d}/big.onnx', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o'), ['big.onnx: model info size must be a whole number of pixels in [16, 8192], got 100000']),
    (('cdsam-export', '--checkpoint', '{ckpt}', '--output', '{d}/t.onnx', '--text', ''), ["--text '' gives an ONNX graph no prompt"]),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--points', 'nan,inf'), ['--points takes finite numbers']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--points', '5000,5'), ['--points 5000,5 is outside']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--box', '30,30,2,2'), ['--box must have x0 < x1 and y0 < y1']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--min_confidence', '2'), ['--min_confidence', 'must be in [0, 1]']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/o', '--tile', '1'), ['--tile', 'must be >= 64 pixels']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/fresh', '--resume'), ['--resume: no scores.csv']),
    (('cdsam-sam-encode', '--sam_type', 'vit_z', '--input_dir', '{voc}', '--output_dir', '{d}/e'), ['--sam_type', "invalid choice: 'vit_z'"]),
    (('cdsam-eval-voc', '--checkpoint', '{d}/huge.pt'), ["'model.clip.model_cfg.embed_dim' is 200000", 'must be in [0, 65536]']),
    (('cdsam-bench', '--steps', '0'), ['--steps', 'must be >= 1']),
    (('cdsam-bench', '--images', '-5'), ['--images', 'must be >= 1']),
    # issue #34: every value is checked where it is read, in one line naming its key (the silent ones included)
    (('cdsam-train', '--config', '{config}', 'optim.betas=[0.9]'), ["'optim.betas' must be two numbers in [0, 1)"]),
    (('cdsam-train', '--config', '{config}', 'optim.betas=[2,3]'), ["'optim.betas' must be two numbers in [0, 1)"]),
    (('cdsam-train', '--config', '{config}', 'data.n_pos_points=-1'), ["'data.n_pos_points' must be in [0, 64]"]),
    (('cdsam-train', '--config', '{config}', 'data.zoom=[1e9,1e9]'), ["'data.zoom' must be [low, high]"]),
    (('cdsam-train', '--config', '{config}', 'data.text='), ["'data.text' must be set"]),
    (('cdsam-train', '--config', '{config}', 'data.classes=5'), ["'data.classes' must be a list"]),
    (('cdsam-train', '--config', '{config}', 'model.dino.name=resnet50'), ["timm model 'resnet50' is not a ViT"]),
    (('cdsam-train', '--config', '{config}', 'model.dino.checkpoint=packaged:'), ["'model.dino.checkpoint' must be a string"]),
    (('cdsam-train', '--config', '{config}', 'model.dino.checkpoint=packaged:dinov9'), ["'model.dino.checkpoint' must be a file or packaged:<name>"]),
    (('cdsam-train', '--config', '{config}', 'model.dino.kwargs.depth=0'), ["'model.dino.kwargs.depth' is 0", 'at least 1']),
    (('cdsam-train', '--config', '{config}', 'model.dino.kwargs.embed_dim=2e5'), ["'model.dino.kwargs.embed_dim' is 200000", '[0, 65536]']),
    (('cdsam-train', '--config', '{config}', 'lora.r=1e9'), ["'lora.r' must be in [1, 1024]"]),
    (('cdsam-train', '--config', '{config}', 'run.name={long}'), ["'run.name' must be a plain name of 1 to 100 characters"]),
    (('cdsam-train', '--config', '{config}', 'optim.epochs={digits}'), ["'optim.epochs' must be an integer of a usable size", '400 digits']),
    (('cdsam-train', '--config', '{config}', 'lora.dropout=5'), ["'lora.dropout' must be in [0, 1)"]),
    (('cdsam-train', '--config', '{config}', 'run.seed=1e30'), ["'run.seed' must be in [0, 2**32)"]),
    (('cdsam-train', '--config', '{config}', 'model.dino.img_size=0'), ["'model.dino.img_size' must be in [16, 8192]"]),
    (('cdsam-train', '--config', '{config}', 'lora.alpha=0'), ["'lora.alpha' must be > 0"]),
    (('cdsam-train', '--config', '{config}', 'loss.dice=-1'), ["'loss.dice' must be >= 0"]),
    (('cdsam-train', '--config', '{config}', 'data.box_jitter=-1'), ["'data.box_jitter' must be in [0, 1]"]),
    (('cdsam-train', '--config', '{config}', 'checkpoint.monitor=banana'), ["'checkpoint.monitor' must be one of", 'banana']),
    (('cdsam-train', '--config', '{config}', 'cache.dtype=int8'), ["'cache.dtype' must be one of 'fp16', 'bf16', 'fp32'"]),
    (('cdsam-train', '--config', '{config}', 'cache.views=0'), ["'cache.views' must be in [1, 64]"]),
    (('cdsam-train', '--config', '{config}', 'run.name='), ["'run.name' must be set"]),
    (('cdsam-train', '--config', '{config}', 'data.valid_frac=0.9'), ["'data.valid_frac' (0.9) + 'data.test_frac' (0.1) must be < 1"]),
    (('cdsam-bench', '--device', 'banana', '--csv', '{d}/b.csv'), ['--device banana: not a device']),
    (('cdsam-eval-voc', '--checkpoint', '{ckpt}', 'data.crop=64'), ['config overrides (data.crop=64 ...) need --config']),
    (('cdsam-predict', '--checkpoint', '{ckpt}', '--input', '{voc}/JPEGImages', '--output_dir', '{d}/res', '--resume'), ['scores.csv is not a CSV cdsam-predict wrote']),
    (('cdsam-eval', '--checkpoint', '{d}', '--split', 'val'), ['is not a cdsam model folder (no config.json)']),
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
    Image.open(one).save(src/'x_jpg.png')                                    # its own stem is what x.jpg would get
    r = run_in_process('cdsam-predict', '--checkpoint', files['ckpt'], '--input', src, '--output_dir', tmp_path/'o')
    assert r.returncode == 1 and 'skipped image' in r.stderr and 'y.jpg' in r.stderr, r.stderr
    rows = list(csv.DictReader(open(tmp_path/'o'/'scores.csv')))
    assert {Path(x['image']).name: Path(x['mask']).name for x in rows if x['mask']} == {
        'x.jpg': 'x_jpg_2.png', 'x.png': 'x_png.png', 'x_jpg.png': 'x_jpg.png'} and len(rows) == 4
    assert [x['error'] for x in rows if x['image'].endswith('y.jpg')] == ['unreadable (UnidentifiedImageError)']
    one_line(run_in_process('cdsam-predict', '--checkpoint', files['ckpt'], '--input', src, '--output_dir', tmp_path/'s', '--strict'),
             'unreadable image', 'y.jpg')
    r = run_in_process('cdsam-sam-encode', '--sam_type', 'tiny', '--input_dir', src, '--output_dir', tmp_path/'e')
    assert r.returncode == 1 and 'y.jpg' in r.stderr and len(list((tmp_path/'e').glob('*.pt'))) == 3

def test_dual_circle_non_image_is_one_line(files, trained, tmp_path):
    from cdsam.synthetic import make_dual_circle_set
    dc = make_dual_circle_set(tmp_path/'dc', n=2, size=64)
    bad = sorted((dc/'images').iterdir())[0]; bad.write_text('not an image')
    one_line(run_in_process('cdsam-eval-dual-circle', '--checkpoint', files['ckpt'], '--image_dir', dc/'images', '--circle_dir', dc/'circles'),
             'unreadable image', bad.name)

def test_eval_voc_skip_bad(files, tmp_path):
    voc = tmp_path/'voc'; shutil.copytree(files['voc'], voc)
    bad = (voc/'ImageSets'/'Segmentation'/'val.txt').read_text().split()[0]
    (voc/'JPEGImages'/f'{bad}.jpg').write_bytes(b'broken')
    one_line(run_in_process('cdsam-eval-voc', '--checkpoint', files['ckpt'], '--root', voc), 'unreadable image', bad)
    r = run_in_process('cdsam-eval-voc', '--checkpoint', files['ckpt'], '--root', voc, '--skip_bad')
    assert r.returncode == 0 and 'micro' in r.stdout and bad in r.stderr
    shutil.copy(files['voc']/'JPEGImages'/f'{bad}.jpg', voc/'JPEGImages'/f'{bad}.jpg')
    good = (voc/'ImageSets'/'Segmentation'/'val.txt').read_text().split()[1]           # a truncated JPEG opens, then fails
    jpg = voc/'JPEGImages'/f'{good}.jpg'; jpg.write_bytes(jpg.read_bytes()[:len(jpg.read_bytes()) // 2])
    one_line(run_in_process('cdsam-eval-voc', '--checkpoint', files['ckpt'], '--root', voc), 'unreadable image', good, 'truncated')
    r = run_in_process('cdsam-eval-voc', '--checkpoint', files['ckpt'], '--root', voc, '--skip_bad')
    assert r.returncode == 0 and 'micro' in r.stdout and f'skipped: unreadable image {jpg} (OSError: image file is truncated' in r.stderr, r.stderr

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
