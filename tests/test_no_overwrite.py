"""Nothing the user already has is overwritten (issue #26, the data-loss cases): each command is pointed at its own
inputs, ground truth, a checkpoint or an existing run, refuses in one line, and every file keeps its bytes."""
import hashlib, shutil
from pathlib import Path
import pytest
from conftest import run_in_process, tiny_config
from cdsam.config import dump_config

def hashes(*folders) -> dict:
    return {str(p): hashlib.sha1(p.read_bytes()).hexdigest() for f in folders for p in sorted(Path(f).rglob('*')) if p.is_file()}

def one_line(r, *needles):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(lines) == 1 and all(n in lines[0] for n in needles), (r.returncode, r.stderr[-1500:])

@pytest.fixture
def voc(data, tmp_path):
    root = tmp_path/'voc'
    shutil.copytree(data['voc'], root)
    return root

def test_predict_into_its_input_folder(trained, voc, tmp_path):
    proj = tmp_path/'proj'
    shutil.copytree(voc/'SegmentationClass', proj/'masks')                     # the case: proj/masks -> proj
    before = hashes(voc, proj)
    one_line(run_in_process('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', proj/'masks', '--output_dir', proj), 'holds the input')
    one_line(run_in_process('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', voc/'JPEGImages', '--output_dir', voc/'JPEGImages'), 'holds the input')
    assert hashes(voc, proj) == before

def test_pseudo_labels_never_replace_ground_truth(trained, voc, tmp_path):
    before = hashes(voc)
    for extra in ([], ['--min_confidence', '0.1']):
        one_line(run_in_process('cdsam-predict', '--checkpoint', trained['ckpt'], '--input', voc/'JPEGImages', '--output_dir', tmp_path/'p',
                                '--pseudo_labels', voc, *extra), '--pseudo_labels')
    assert hashes(voc) == before

def test_eval_outputs_never_replace_inputs(trained, voc, tmp_path):
    before, ck = hashes(voc, trained['ckpt'].parent), trained['ckpt']
    one_line(run_in_process('cdsam-eval-voc', '--checkpoint', ck, '--root', voc, '--save_preds', voc/'SegmentationClass'), 'holds the input')
    one_line(run_in_process('cdsam-eval-voc', '--checkpoint', ck, '--root', voc, '--output_csv', ck), 'is not a CSV that cdsam wrote')
    img = sorted((voc/'JPEGImages').iterdir())[0]
    one_line(run_in_process('cdsam-eval-voc', '--checkpoint', ck, '--root', voc, '--output_csv', img), 'is not a CSV that cdsam wrote')
    assert hashes(voc, trained['ckpt'].parent) == before

def test_dual_circle_outputs_never_replace_inputs(trained, data, tmp_path):
    dc = tmp_path/'dc'
    shutil.copytree(data['dc'], dc)
    before = hashes(dc)
    one_line(run_in_process('cdsam-eval-dual-circle', '--checkpoint', trained['ckpt'], '--image_dir', dc/'images', '--circle_dir', dc/'circles',
                            '--visualize', '--vis_output_dir', dc/'images'), 'holds the input')
    img = sorted((dc/'images').iterdir())[0]
    one_line(run_in_process('cdsam-eval-dual-circle', '--checkpoint', trained['ckpt'], '--image_dir', dc/'images', '--circle_dir', dc/'circles',
                            '--output_csv', img), 'is not a CSV that cdsam wrote')
    assert hashes(dc) == before

def test_bench_csv_never_replaces_a_checkpoint(trained, tmp_path):
    ck = tmp_path/'ck.pt'
    shutil.copy(trained['ckpt'], ck)
    before = hashes(tmp_path)
    r = run_in_process('cdsam-bench', '--images', '4', '--steps', '1', '--reps', '1', '--sections', 'help', '--csv', ck)
    assert r.returncode != 0 and 'is not a CSV that cdsam wrote' in r.stderr, r.stderr[-800:]
    (tmp_path/'HAM10000_metadata.csv').write_text('lesion_id,image_id,dx\nHAM_1,ISIC_1,mel\n')
    before = hashes(tmp_path)
    r = run_in_process('cdsam-bench', '--images', '4', '--steps', '1', '--reps', '1', '--sections', 'help', '--csv', tmp_path/'HAM10000_metadata.csv')
    assert r.returncode == 2 and 'refusing to replace it' in r.stderr and '--force' in r.stderr, r.stderr[-800:]
    assert hashes(tmp_path) == before


def test_no_csv_output_replaces_a_users_csv(trained, voc, tmp_path):
    "Issue #34: a CSV cdsam did not write is never replaced without --force, whatever its name; its own output is."
    ck = trained['ckpt']
    run = tmp_path/'run'; shutil.copytree(ck.parents[2], run)
    mine = tmp_path/'HAM10000_metadata.csv'; mine.write_text('lesion_id,image_id,dx\nHAM_1,ISIC_1,mel\n')
    before = hashes(tmp_path)
    for target in (mine, run/'stage1_history.csv'):
        one_line(run_in_process('cdsam-eval', '--checkpoint', ck, '--root', voc, '--output_csv', target), 'refusing to replace it', target.name)
    assert hashes(tmp_path) == before
    out = tmp_path/'scores.csv'
    for _ in range(2): assert run_in_process('cdsam-eval', '--checkpoint', ck, '--root', voc, '--output_csv', out).returncode == 0
    assert run_in_process('cdsam-eval', '--checkpoint', ck, '--root', voc, '--output_csv', mine, '--force').returncode == 0
    assert mine.read_text().startswith('id,image,iou,dice')


def test_dual_circle_csv_and_empty_text(trained, data, tmp_path):
    mine = tmp_path/'mine.csv'; mine.write_text('a,b\n1,2\n')
    args = ('cdsam-eval-dual-circle', '--checkpoint', trained['ckpt'], '--image_dir', data['dc']/'images', '--circle_dir', data['dc']/'circles')
    one_line(run_in_process(*args, '--output_csv', mine), 'refusing to replace it', 'mine.csv')
    assert mine.read_text() == 'a,b\n1,2\n'
    one_line(run_in_process(*args, '--text', ''), "--text '' gives no prompt")

def test_second_train_into_a_run_refuses_without_resume(data, tmp_path):
    cfg = tmp_path/'c.yaml'
    cfg.write_text(dump_config(tiny_config(data['voc'], tmp_path/'exp')))
    assert run_in_process('cdsam-train', '--config', cfg).returncode == 0
    run = tmp_path/'exp'/'t'
    before = hashes(run)
    one_line(run_in_process('cdsam-train', '--config', cfg), 'already holds checkpoints', '--resume', '--overwrite')
    assert hashes(run) == before
    assert run_in_process('cdsam-train', '--config', cfg, '--overwrite').returncode == 0
    one_line(run_in_process('cdsam-train', '--config', cfg, 'run.name=../x'), "config key 'run.name' must be a plain name")
