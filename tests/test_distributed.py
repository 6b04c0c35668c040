"Two CPU processes (gloo) launched by torchrun, as a multi-GPU run is launched: same weights, one pass over the data per epoch, rank 0 writes."
import json, os, shutil, subprocess, sys
import pytest
from collections import Counter
from pathlib import Path
import torch
from conftest import tiny_config
from cdsam.config import dump_config
from cdsam.distributed import free_port
from cdsam.synthetic import make_synthetic_voc

pytestmark = pytest.mark.slow          # trains models: the CI's slow step (pytest -m slow)

HERE = Path(__file__).parent

def _launch(cmd, audit, watch, timeout=300):
    env = {**os.environ, 'CDSAM_AUDIT': str(audit), 'CDSAM_WATCH': str(watch), 'OMP_NUM_THREADS': '1'}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)

def test_torchrun_two_processes(tmp_path):
    voc = make_synthetic_voc(tmp_path/'voc', n=16, size=64)
    ids = sorted(p.stem for p in (voc/'JPEGImages').iterdir())
    seg = voc/'ImageSets'/'Segmentation'
    (seg/'train.txt').write_text('\n'.join(ids[:12]) + '\n'); (seg/'val.txt').write_text('\n'.join(ids[12:]) + '\n')
    cfg = tmp_path/'c.yaml'
    cfg.write_text(dump_config(tiny_config(voc, tmp_path/'exp', optim=dict(epochs=2),
                                           data=dict(root=str(voc), resize=64, crop=56, batch_size=2))))
    audit = tmp_path/'audit'; audit.mkdir()
    r = _launch([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(HERE/'ddp_worker.py'),
                 '--config', str(cfg), '--stages', '1-2'], audit, tmp_path/'exp')
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    w0, w1 = (torch.load(audit/f'weights_rank{k}.pt', weights_only=True) for k in (0, 1))
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)        # ranks agree after training
    ck = torch.load(tmp_path/'exp'/'t'/'checkpoints'/'stage2'/'latest.pt', weights_only=True)
    assert all(torch.equal(ck[f'model.{k}'], w0[k]) for k in w0)                          # and rank 0 saved exactly that
    a0, a1 = (json.loads((audit/f'seen_rank{k}.json').read_text()) for k in (0, 1))
    for split, want in (('train', ids[:12]), ('valid', ids[12:])):
        for stage_epoch in range(4):                                                      # 2 stages x 2 epochs, in order
            per_rank = [[s['id'] for s in a['seen'] if s['split'] == split] for a in (a0, a1)]
            n = len(want) // 2
            got = per_rank[0][stage_epoch*n:(stage_epoch+1)*n] + per_rank[1][stage_epoch*n:(stage_epoch+1)*n]
            assert Counter(got) == Counter(want), (split, stage_epoch, got)                # each sample once per epoch
            assert set(per_rank[0][stage_epoch*n:(stage_epoch+1)*n]).isdisjoint(per_rank[1][stage_epoch*n:(stage_epoch+1)*n])
        assert all(len(p) == 4 * n for p in per_rank)
    assert a1['writes'] == [], a1['writes']                                               # rank 1 wrote nothing
    written = ' '.join(p for _, p in a0['writes'])                                        # rank 0 wrote (temp files of) each
    for name in ('.latest.pt', '.best.pt', 'config.yaml', 'stage1_history.csv', 'stage2_curves.png'): assert name in written, name
    assert len((tmp_path/'exp'/'t'/'stage2_history.csv').read_text().splitlines()) == 3   # header + 2 epochs, written once

def test_accelerate_launch_starts_a_gloo_group(tmp_path):
    probe = tmp_path/'probe.py'
    probe.write_text("import os, torch, fastai.torch_core as tc\nfrom cdsam.distributed import GroupDistributedTrainer\n"
                     "t = GroupDistributedTrainer()\nr = tc.rank_distrib()\n"               # one file per rank: their stdout lines can interleave
                     "open(os.path.join(os.environ['CDSAM_AUDIT'], f'rank{r}.txt'), 'w').write(f'RANK {r} {tc.num_distrib()} {torch.distributed.get_backend()}')\n")
    exe = shutil.which('accelerate')
    assert exe, 'accelerate is not installed'
    r = _launch([exe, 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
                 '--main_process_port', str(free_port()),
                 '--dynamo_backend', 'no', str(probe)], tmp_path, tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = sorted(f.read_text() for f in tmp_path.glob('rank*.txt'))
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    assert lines == [f'RANK 0 2 {backend}', f'RANK 1 2 {backend}'], r.stdout
