"Shared fixtures: console scripts run as subprocesses, a generated dataset and a tiny trained checkpoint."
import shutil, subprocess, copy
import pytest
from cdsam.config import dump_config
from cdsam.defaults import TINY_MODEL_CFG
from cdsam.synthetic import make_synthetic_voc, make_dual_circle_set

def run(*args, timeout=300, cwd=None):
    exe = shutil.which(args[0])
    assert exe, f"console script {args[0]} is not installed (pip install -e .)"
    return subprocess.run([exe, *map(str, args[1:])], capture_output=True, text=True, timeout=timeout, cwd=cwd)

def run_in_process(*args):
    """Call a console script's installed entry point in this process (`args[0]` names it), as `run` would in a
    subprocess, minus the seconds each new process spends importing torch. For the many quick error cases."""
    import contextlib, io, traceback
    from importlib.metadata import entry_points
    eps = entry_points(group='console_scripts', name=args[0])
    assert eps, f"console script {args[0]} is not installed (pip install -e .)"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = list(eps)[0].load()(list(map(str, args[1:])))
        except SystemExit as e: code = e.code if isinstance(e.code, int) else 1
        except Exception: traceback.print_exc(); code = 1
    return subprocess.CompletedProcess(args, code or 0, out.getvalue(), err.getvalue())

def tiny_config(root, out, **extra):
    c = dict(copy.deepcopy(TINY_MODEL_CFG), lora=dict(r=4, alpha=8.0, dino=dict(last_k_blocks=1)),
             data=dict(root=str(root), resize=64, crop=56, batch_size=8), optim=dict(epochs=1),
             run=dict(name='t', output_dir=str(out)))
    c.update(extra)
    return c

@pytest.fixture(scope='session')
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp('data')
    return dict(voc=make_synthetic_voc(d/'voc', n=16, size=64), dc=make_dual_circle_set(d/'dc', n=3, size=64, ignore_rects=True))

@pytest.fixture(scope='session')
def trained(data, tmp_path_factory):
    "A stage-1 checkpoint trained by cdsam-train (1 epoch)."
    d = tmp_path_factory.mktemp('trained')
    cfg = d/'cfg.yaml'; cfg.write_text(dump_config(tiny_config(data['voc'], d/'exp')))
    r = run_in_process('cdsam-train', '--config', cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    return dict(config=cfg, ckpt=d/'exp'/'t'/'checkpoints'/'stage1'/'best.pt')
