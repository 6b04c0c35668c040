"""tools/gpu_check.sh, the one-call GPU check of issue #27, runs on the CPU with tiny models: every stage through
stage_learner / Learner.fit under autocast, the one-process DDP runs (torchrun, accelerate launch) that save and reload
a checkpoint, inference and folder prediction; its CSV and markdown table hold every row, all ok."""
import csv, subprocess
import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.slow
def test_gpu_check_runs_on_the_cpu(tmp_path):
    r = subprocess.run(['bash', str(ROOT/'tools'/'gpu_check.sh'), str(tmp_path), '--tiny', '--device', 'cpu', '--dtypes', 'bf16',
                        '--steps', '1', '--images', '8'], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path/'gpu_check.csv')))
    checks = [(row['check'], row['stage'], row['cached']) for row in rows]
    for stage, cached in (('1', 'False'), ('1', 'True'), ('2', 'True'), ('3', 'True'), ('4', 'False'), ('4+gc', 'False')):
        assert ('stage', stage, cached) in checks, (stage, cached, checks)
    assert {'ddp torchrun', 'ddp accelerate launch', 'inference', 'cdsam-predict folder'} <= {c for c, _, _ in checks}
    assert all(row['ok'] == 'True' for row in rows), [row for row in rows if row['ok'] != 'True']
    assert all(float(row['images_per_s']) > 0 for row in rows if row['check'] == 'stage')
    assert 'backend=gloo world=1 reloaded latest.pt' in next(row['note'] for row in rows if row['check'] == 'ddp torchrun')
    md = (tmp_path/'gpu_check.md').read_text()
    assert md.count('\n| ') == len(rows) + 1 and (tmp_path/'gpu_check.log').is_file()
