"""The GPU check of issue #27, run by tools/gpu_check.sh: every stage through the real `stage_learner` / `Learner.fit`
path with mixed precision, DDP over NCCL (torchrun and accelerate launch) with a checkpoint saved and reloaded,
inference and folder prediction rates, peak memory and the largest batch that fits a card. Random weights: speed and
memory do not depend on them. Writes OUT/gpu_check.csv and OUT/gpu_check.md.

    python tools/gpu_check.py OUT                      # on a GPU: ViT-B/14 and ViT-L/14 at 518 px, bf16 and fp16
    python tools/gpu_check.py OUT --tiny --device cpu  # the same path on the CPU with tiny models (tests/test_gpu_check.py)
"""
from __future__ import annotations
import argparse, copy, math, os, subprocess, sys, tempfile, time, traceback, warnings
from pathlib import Path

import torch
from fastai.callback.core import Callback
from fastai.torch_core import set_seed
from cdsam.bench import bench_config, device_name, PeakMemory
from cdsam.config import load_config, dump_config
from cdsam.data import build_dataloaders
from cdsam.distributed import free_port
from cdsam.defaults import TINY_MODEL_CFG
from cdsam.files import write_csv
from cdsam.learner import stage_learner
from cdsam.model import build_model
from cdsam.plan import model_plan, data_plan, resolve_plan
from cdsam.synthetic import make_synthetic_voc

HERE = Path(__file__).resolve().parent
COLUMNS = ('check', 'model', 'size', 'dtype', 'stage', 'cached', 'batch', 'images_per_s', 'peak_mib', 'ok', 'note')
GIB = 2**30


class StepTimes(Callback):
    "Wall time of every training batch (synchronised), to leave the first (warm-up) out of the rate."
    order = -30
    def before_fit(self): self.times = []
    def before_batch(self):
        if self.training:
            _sync(self.dls.device)
            self.t = time.perf_counter()
    def after_batch(self):
        if self.training:
            _sync(self.dls.device)
            self.times.append(time.perf_counter() - self.t)


def _sync(device):
    if device is not None and torch.device(device).type == 'cuda': torch.cuda.synchronize(device)


def model_config(tiny: bool, dino: str, size: int) -> dict:
    "A config of `dino` at `size` px with the SAM vit_b decoder and a CLIP ViT-B/32 text tower (tiny: the test models)."
    if tiny: return {**copy.deepcopy(TINY_MODEL_CFG), 'lora': dict(dino=dict(last_k_blocks=1))}
    return dict(model=dict(dino=dict(name=dino, img_size=size, pretrained=False), clip=dict(name='ViT-B-32', pretrained=None),
                           sam=dict(type='vit_b', checkpoint=None)))


def stage_run(base: dict, root: Path, device, stage: int, dtype: str | None, batch: int, steps: int, cached: bool = False,
              gc: bool = False) -> dict:
    "`steps` + 1 training batches of `stage` through `stage_learner` and `Learner.fit`: images/s (warm-up left out), peak memory, losses."
    ids = sorted(q.stem for q in (root/'JPEGImages').iterdir())[:batch * (steps + 1)]
    (root/f'ids_{batch}_{steps}.txt').write_text(''.join(f'{i}\n' for i in ids))
    c = bench_config(base, root, batch)
    c['data']['train_split'] = str(root/f'ids_{batch}_{steps}.txt')
    c['stage']['id'] = stage
    c['optim'].update(amp=dtype is not None, amp_dtype=dtype or 'auto')
    c['cache']['features'] = 'memory' if cached else None
    c['model']['dino']['grad_checkpointing'] = gc
    c = load_config(c)
    dls = build_dataloaders(data_plan(c['data']), device=device)
    timer = StepTimes()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        plan = resolve_plan(c, device=device)
        set_seed(plan.run.seed)
        learn = stage_learner(dls, plan, build_model(plan.model), verbose=False, cbs=[timer])
        if cached: learn.cache_features(log=lambda *a: None)
    with PeakMemory(device) as peak, learn.no_bar(), learn.no_logging(): learn.fit(1)    # CUDA allocator peak (CPU: RSS)
    losses = [float(l) for l in learn.recorder.losses]
    times = timer.times[1:] or timer.times
    out = dict(images_per_s=batch * len(times) / sum(times), peak_mib=peak.peak / 2**20, losses=losses,
               ok=bool(losses) and all(math.isfinite(l) for l in losses))
    del learn, dls
    return out


def largest_batch(mem_1: float, mem_b: float, b: int, gib: float) -> int:
    "The largest batch whose peak memory fits `gib`, extrapolated linearly from the peaks at batch 1 and `b` (MiB)."
    per_image = (mem_b - mem_1) / (b - 1)
    fixed = mem_1 - per_image
    if per_image <= 0: return 0
    return max(0, int((gib * 1024 - fixed) // per_image))


def check_stages(a, root: Path, rows: list, log):
    for dino in a.dinos:
        base = model_config(a.tiny, dino, a.size)
        for dtype in a.dtypes:
            for stage, cached, gc in ((1, False, False), (1, True, False), (2, False, False), (2, True, False),
                                      (3, True, False), (4, False, False), (4, False, True)):
                row = dict(check='stage', model=dino, size=a.size, dtype=dtype, stage=f'{stage}{"+gc" if gc else ""}',
                           cached=cached, batch=a.batch)
                try:
                    r = stage_run(base, root, a.device, stage, dtype, a.batch, a.steps, cached, gc)
                    note = f"losses {', '.join(f'{l:.3f}' for l in r['losses'])}"
                    if dtype == a.dtypes[0] and not cached and a.device != 'cpu':      # memory per image: batch 1 as well
                        r1 = stage_run(base, root, a.device, stage, dtype, 1, 1, cached, gc)
                        note += f"; peak {r1['peak_mib']:.0f} MiB at batch 1: largest batch ~{largest_batch(r1['peak_mib'], r['peak_mib'], a.batch, 24)} in 24 GiB, ~{largest_batch(r1['peak_mib'], r['peak_mib'], a.batch, 80)} in 80 GiB (extrapolated from batch 1 and {a.batch})"
                    row.update(images_per_s=round(r['images_per_s'], 2), peak_mib=round(r['peak_mib'], 1), ok=r['ok'], note=note)
                except Exception as e:
                    row.update(ok=False, note=f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
                    traceback.print_exc()
                rows.append(row)
                log(row)
                if a.device != 'cpu': torch.cuda.empty_cache()


def check_ddp(a, root: Path, wd: Path, rows: list, log):
    "Two training steps under torchrun (and accelerate launch), one process, saving a checkpoint that is reloaded."
    cfg = bench_config(model_config(True, '', 0) if a.tiny else model_config(False, a.dinos[0], a.size), root, a.batch)
    cfg['data'].update(train_split=str(root/'ids_ddp.txt'))
    cfg['optim'].update(epochs=1, amp=a.dtypes[0] is not None, amp_dtype=a.dtypes[0] or 'auto')
    cfg['checkpoint'].update(save_best=False, save_latest=True)
    ids = sorted(p.stem for p in (root/'JPEGImages').iterdir())[:2 * a.batch]
    (root/'ids_ddp.txt').write_text(''.join(f'{i}\n' for i in ids))
    launchers = {'torchrun': [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '1']}
    # accelerate launch refuses --multi_gpu for one process, and its one-process launcher starts no group: the
    # launcher's rendezvous variables are set here, so accelerate's state (which fastai's distrib_ctx uses) starts one
    launchers['accelerate launch'] = [sys.executable, '-m', 'accelerate.commands.launch', '--num_processes', '1',
                                      '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no']
    rendezvous = dict(WORLD_SIZE='1', RANK='0', LOCAL_RANK='0', LOCAL_WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    for name, launch in launchers.items():
        out = wd/f"ddp_{name.split()[0]}"
        c = copy.deepcopy(cfg)
        c['run'].update(output_dir=str(out), name='ddp')
        (wd/'ddp.yaml').write_text(dump_config(c))
        t = time.perf_counter()
        env = {**os.environ, **(rendezvous if name.startswith('accelerate') else {})}
        r = subprocess.run(launch + [str(HERE/'gpu_ddp_probe.py'), str(out/'probe.txt'), '--config', str(wd/'ddp.yaml'), '--stages', '1'],
                           capture_output=True, text=True, timeout=300, env=env)
        probe = (out/'probe.txt').read_text().strip() if (out/'probe.txt').is_file() else ''
        ok = r.returncode == 0 and probe.startswith('ok')
        note = probe or (r.stderr.strip().splitlines() or ['no output'])[-1][:300]
        rows.append(dict(check=f'ddp {name}', model=a.dinos[0], size=a.size, dtype=a.dtypes[0], stage='1', batch=a.batch,
                         images_per_s='', peak_mib='', ok=ok, note=f"{note}; {time.perf_counter() - t:.0f}s"))
        log(rows[-1])
        if not ok: print(r.stdout[-2000:], r.stderr[-4000:], file=sys.stderr)


def check_inference(a, root: Path, wd: Path, rows: list, log):
    "Model images/s at batch 1 and 16 (autocast), and cdsam-predict on a folder of generated photographs."
    from cdsam.checkpoint import save_checkpoint
    base = model_config(a.tiny, a.dinos[0], a.size)
    cfg = bench_config(base, root, a.batch)
    torch.manual_seed(0)
    model = build_model(model_plan(cfg)).to(a.device).eval()
    dtype = a.dtypes[0]
    for b in (1, 16):
        x = torch.randn(b, 3, cfg['data']['crop'], cfg['data']['crop'], device=a.device)
        ctx = torch.autocast(torch.device(a.device).type, dtype=torch.bfloat16 if dtype == 'bf16' else torch.float16) if dtype else torch.autocast('cpu', enabled=False)
        with PeakMemory(a.device) as peak, torch.no_grad(), ctx:
            model(x, [cfg['data']['text']] * b)
            _sync(a.device)
            t = time.perf_counter()
            for _ in range(a.steps): model(x, [cfg['data']['text']] * b)
            _sync(a.device)
        rows.append(dict(check='inference', model=a.dinos[0], size=a.size, dtype=dtype, stage='', batch=b,
                         images_per_s=round(b * a.steps / (time.perf_counter() - t), 2), peak_mib=round(peak.peak / 2**20, 1), ok=True, note='model forward, text prompt'))
        log(rows[-1])
    save_checkpoint(wd/'m.pt', model.cpu(), cfg, epoch=0)
    del model
    imgs = root/'JPEGImages'
    batch = 16 if a.device != 'cpu' else 4
    def predict(folder_out):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, '-c', 'import sys; from cdsam.predict_cli import predict_main; sys.exit(predict_main())',
                            '--checkpoint', str(wd/'m.pt'), '--input', str(imgs), '--output_dir', str(folder_out),
                            '--device', a.device, '--batch_size', str(batch)], capture_output=True, text=True, timeout=300)
        return r, time.perf_counter() - t
    r, secs = predict(wd/'pred')
    n = len(list(imgs.iterdir()))
    rows.append(dict(check='cdsam-predict folder', model=a.dinos[0], size=a.size, dtype='fp32', stage='', batch=batch,
                     images_per_s=round(n / secs, 2), peak_mib='', ok=r.returncode == 0,
                     note=f"{n} images 600x450, start-up included" if r.returncode == 0 else (r.stderr.strip().splitlines() or [''])[-1][:300]))
    log(rows[-1])


def markdown(rows: list, device: str) -> str:
    lines = [f"GPU check on {device} ({time.strftime('%Y-%m-%d')}); random weights, generated 600x450 photographs.", '',
             '| check | model | size | dtype | stage | cached | batch | images/s | peak MiB | ok | note |', '|' + '---|' * 11]
    for r in rows: lines.append('| ' + ' | '.join(str(r.get(k, '')) for k in COLUMNS) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='gpu_check', description=__doc__.split('\n\n')[0])
    ap.add_argument('out', help='folder for gpu_check.csv and gpu_check.md')
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--tiny', action='store_true', help='tiny models at 56 px (the CPU test)')
    ap.add_argument('--dinos', default='vit_base_patch14_dinov2,vit_large_patch14_dinov2')
    ap.add_argument('--size', type=int, default=518)
    ap.add_argument('--dtypes', default='bf16,fp16', help="comma-separated: bf16, fp16, none")
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--images', type=int, default=32, help='generated 600x450 photographs')
    ap.add_argument('--skip', default='', help='comma-separated checks to leave out: stages, ddp, inference')
    a = ap.parse_args(argv)
    a.dinos = ['tiny'] if a.tiny else a.dinos.split(',')
    a.size = 56 if a.tiny else a.size
    a.dtypes = [None if d == 'none' else d for d in a.dtypes.split(',')]
    skip = set(filter(None, a.skip.split(',')))
    if a.device.startswith('cuda') and not torch.cuda.is_available(): raise SystemExit("gpu_check: no CUDA device here; use --device cpu --tiny")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, dev = [], device_name(a.device)
    log = lambda r: print(' '.join(f'{k}={r.get(k, "")}' for k in COLUMNS), flush=True)
    print(f"gpu_check on {dev}: torch {torch.__version__}, models {a.dinos} at {a.size}px, dtypes {a.dtypes}", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as wd:
        wd = Path(wd)
        root = make_synthetic_voc(wd/'voc', n=max(a.images, 2 * a.batch * (a.steps + 1)), size=450, splits=(1.0, 0.0))
        for name, fn in (('stages', lambda: check_stages(a, root, rows, log)), ('ddp', lambda: check_ddp(a, root, wd, rows, log)),
                         ('inference', lambda: check_inference(a, root, wd, rows, log))):
            if name in skip: continue
            try: fn()
            except Exception as e:
                traceback.print_exc()
                rows.append(dict(check=name, ok=False, note=f"{type(e).__name__}: {str(e)[:300]}"))
            write_csv([{k: r.get(k, '') for k in COLUMNS} for r in rows], out/'gpu_check.csv', COLUMNS)
            (out/'gpu_check.md').write_text(markdown(rows, dev))
    bad = [r for r in rows if not r.get('ok')]
    print(f"gpu_check: {len(rows) - len(bad)} of {len(rows)} checks ok in {time.perf_counter() - t0:.0f}s; {out/'gpu_check.md'}")
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
