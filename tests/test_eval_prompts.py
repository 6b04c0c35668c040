"""cdsam-eval scores a run with the prompts and classes it trained with (issue #25 item 1): each class of a palette set
with its own text prompt, a box- or point-trained run with the box / point of each ground-truth mask; its first line
says which."""
import csv
from conftest import run_in_process, tiny_config
from cdsam.config import dump_config
from cdsam.synthetic import make_synthetic_voc
from cdsam.data import voc_records

CLASSES = ['background', 'nevus', 'melanoma']

def trained(tmp_path, root, **extra):
    c = tiny_config(root, tmp_path/'exp', **extra)
    cfg = tmp_path/'c.yaml'
    cfg.write_text(dump_config(c))
    r = run_in_process('cdsam-train', '--config', cfg)
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp_path/'exp'/'t'/'checkpoints'/'stage1'/'best.pt'

def test_multiclass_scored_per_class_with_each_class_prompt(tmp_path):
    root = make_synthetic_voc(tmp_path/'pal', n=10, size=48, classes=CLASSES, seed=2)
    ck = trained(tmp_path, root, data=dict(root=str(root), resize=56, crop=56, batch_size=4, classes=CLASSES))
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--split', 'val', '--output_csv', tmp_path/'s.csv')
    assert r.returncode == 0, r.stderr
    first, recs = r.stdout.splitlines()[0], voc_records(root, 'val', classes=CLASSES)
    assert "prompts (text): text " + ', '.join(repr(p) for p in sorted({r.prompt for r in recs})) in first, first
    assert "'skin lesion'" not in first
    rows = list(csv.DictReader(open(tmp_path/'s.csv')))
    assert len(rows) == len(recs) and all(':' in row['id'] for row in rows)

def test_box_trained_run_scored_with_boxes(tmp_path, data):
    ck = trained(tmp_path, data['voc'], train=dict(prompt_mode='box'))
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--split', 'val')
    assert r.returncode == 0, r.stderr
    assert 'prompts (box): box from each ground-truth mask' in r.stdout.splitlines()[0]
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--split', 'val', '--prompt_mode', 'text+points')
    assert "prompts (text+points): text 'skin lesion' + points from each ground-truth mask" in r.stdout.splitlines()[0], r.stdout

def test_multiclass_predict_and_export_ask_for_a_class(tmp_path):
    "A multi-class run never trained on data.text: predict and export without --text name the classes instead."
    root = make_synthetic_voc(tmp_path/'pal', n=6, size=48, classes=CLASSES, seed=2)
    ck = trained(tmp_path, root, data=dict(root=str(root), resize=56, crop=56, batch_size=4, classes=CLASSES))
    for args in (('cdsam-predict', '--checkpoint', ck, '--input', root/'JPEGImages', '--output_dir', tmp_path/'p'),
                 ('cdsam-export', '--checkpoint', ck, '--output', tmp_path/'m.onnx')):
        r = run_in_process(*args)
        assert r.returncode == 2 and "trained on the classes 'nevus', 'melanoma' (data.classes)" in r.stderr, r.stderr
    r = run_in_process('cdsam-predict', '--checkpoint', ck, '--input', root/'JPEGImages', '--output_dir', tmp_path/'p', '--text', 'melanoma')
    assert r.returncode == 0, r.stderr
