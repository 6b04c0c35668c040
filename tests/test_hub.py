"""Issue #37: a trained run shared as a Hugging Face Hub model folder (cdsam-export --format hub), loaded with one call
(CDSAM.from_pretrained) or by any command's --checkpoint, with the run's own measured figures in its model card."""
import json, re, shutil
import numpy as np
import pytest
from PIL import Image
from conftest import run_in_process
from cdsam.model import CDSAM, HUB_FORMAT
from cdsam.inference import predict_probs
from cdsam.runtime import postprocess


@pytest.fixture
def run_copy(trained, tmp_path):
    "A private copy of the trained run folder (other tests record their own evaluations in the shared one)."
    dst = tmp_path/'run'
    shutil.copytree(trained['ckpt'].parents[2], dst)
    (dst/'eval_results.json').unlink(missing_ok=True)
    return dst/'checkpoints'/'stage1'/'best.pt'


@pytest.mark.slow
def test_export_hub_then_from_pretrained_predicts_the_same_masks(run_copy, data, tmp_path):
    ck = run_copy
    r = run_in_process('cdsam-eval', '--checkpoint', ck, '--root', data['voc'], '--split', 'val')
    assert r.returncode == 0, r.stderr
    mean_dice = float(re.search(r'^\s*mean\s+\S+\s+(\S+)', r.stdout, re.M).group(1))
    tj = float(re.search(r'thresholded Jaccard .*: (\S+)', r.stdout).group(1))
    n = int(re.search(r'^(\d+) images', r.stdout, re.M).group(1))
    assert (ck.parents[2]/'eval_results.json').is_file() and 'recorded in' in r.stdout

    hub = tmp_path/'hub'
    r = run_in_process('cdsam-export', '--checkpoint', ck, '--format', 'hub', '--output', hub)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in hub.iterdir()) == ['README.md', 'config.json', 'model.safetensors']
    card = (hub/'README.md').read_text()
    assert f"| val ({data['voc']}) | {n} | original | text | none | {mean_dice:.4f} |" in card, card    # the run's own figure
    assert f"| {tj:.4f} |" in card and 'Not a medical device' in card and 'library_name: cdsam' in card
    assert re.search(rf'images per split: train \d+, val {n};', card), card
    record = json.loads((hub/'config.json').read_text())
    assert record['cdsam_format'] == HUB_FORMAT and record['merged'] and record['info']['text'] == 'skin lesion'

    # cdsam-predict with the folder writes the masks it writes with the original checkpoint
    imgs = data['voc']/'JPEGImages'
    for name, src in (('ck', ck), ('hub', hub)):
        r = run_in_process('cdsam-predict', '--checkpoint', src, '--input', imgs, '--output_dir', tmp_path/name)
        assert r.returncode == 0, r.stderr
    masks = sorted((tmp_path/'ck'/'masks').iterdir())
    assert len(masks) == 16
    for m in masks:
        assert (np.asarray(Image.open(m)) == np.asarray(Image.open(tmp_path/'hub'/'masks'/m.name))).all(), m.name

    # one call elsewhere: CDSAM.from_pretrained, with the run's size, stats, threshold and TTA from model.info
    model = CDSAM.from_pretrained(hub)
    info = model.info
    for m in masks[:4]:
        img = Image.open(imgs/f'{m.stem}.jpg')
        p, _ = predict_probs(model, img, info.text, info.size, info.stats, tta=info.tta)
        mine = postprocess(p > info.threshold, info.largest_component, info.fill_holes)
        assert (mine == (np.asarray(Image.open(m)) > 127)).all(), m.name

    # the folder is a checkpoint for cdsam-eval too (and records nothing: it is in no run folder)
    r = run_in_process('cdsam-eval', '--checkpoint', hub, '--root', data['voc'], '--split', 'val')
    assert r.returncode == 0, r.stderr
    assert re.search(r'^\s*mean\s+\S+\s+(\S+)', r.stdout, re.M).group(1) == f'{mean_dice:.4f}'


def test_export_hub_refuses_what_it_did_not_write(run_copy, data, tmp_path):
    ck = run_copy
    theirs = tmp_path/'theirs'; theirs.mkdir(); (theirs/'notes.txt').write_text('mine')
    r = run_in_process('cdsam-export', '--checkpoint', ck, '--format', 'hub', '--output', theirs, '--force')
    assert r.returncode == 2 and 'holds files cdsam did not write' in r.stderr
    assert (theirs/'notes.txt').read_text() == 'mine' and sorted(p.name for p in theirs.iterdir()) == ['notes.txt']
    hub = tmp_path/'hub'
    assert run_in_process('cdsam-export', '--checkpoint', ck, '--format', 'hub', '--output', hub).returncode == 0
    r = run_in_process('cdsam-export', '--checkpoint', ck, '--format', 'hub', '--output', hub)
    assert r.returncode == 2 and 'give --force to replace it' in r.stderr
    assert run_in_process('cdsam-export', '--checkpoint', ck, '--format', 'hub', '--output', hub, '--force').returncode == 0
    r = run_in_process('cdsam-export', '--checkpoint', ck, '--output', tmp_path/'x.pt', '--adapters')
    assert r.returncode == 2 and '--format hub' in r.stderr
    # a folder that is not cdsam's, or of a newer format, is one line wherever a --checkpoint is read
    r = run_in_process('cdsam-predict', '--checkpoint', theirs, '--input', data['voc']/'JPEGImages', '--output_dir', tmp_path/'p')
    assert r.returncode == 2 and 'is not a cdsam model folder' in r.stderr and 'Traceback' not in r.stderr
    rec = json.loads((hub/'config.json').read_text())
    (hub/'config.json').write_text(json.dumps({**rec, 'cdsam_format': HUB_FORMAT + 1}))
    r = run_in_process('cdsam-eval', '--checkpoint', hub, '--split', 'val')
    assert r.returncode == 2 and 'newer cdsam' in r.stderr


def test_adapters_kept_and_a_previous_format_folder_loads(run_copy, tmp_path):
    "--adapters keeps LoRA unmerged; a folder whose config.json holds only what format 1 wrote first still loads."
    from cdsam.lora import lora_layers
    ck = run_copy
    assert run_in_process('cdsam-export', '--checkpoint', ck, '--format', 'hub', '--output', tmp_path/'a', '--adapters').returncode == 0
    assert lora_layers(CDSAM.from_pretrained(tmp_path/'a'))
    rec = json.loads((tmp_path/'a'/'config.json').read_text())
    first = {k: rec[k] for k in ('cdsam_format', 'info', 'config')}       # the fields the format starts from
    (tmp_path/'a'/'config.json').write_text(json.dumps(first))
    assert CDSAM.from_pretrained(tmp_path/'a').info.size == rec['info']['size']


def test_push_to_hub_uploads_the_folder(run_copy, monkeypatch):
    "push_to_hub is huggingface_hub's: one create_repo and one upload_folder of the save_pretrained folder (stopped there)."
    import huggingface_hub
    from cdsam.inference import model_from_checkpoint
    calls = {}
    class Repo:
        repo_id = 'me/lesions'
    def create_repo(self, repo_id, **kw):
        calls['create'] = repo_id
        return Repo()
    def upload_folder(self, repo_id, folder_path, **kw):
        from pathlib import Path
        calls['upload'] = (repo_id, sorted(p.name for p in Path(folder_path).iterdir()), (Path(folder_path)/'README.md').read_text())
        return 'commit-url'
    monkeypatch.setattr(huggingface_hub.HfApi, 'create_repo', create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, 'upload_folder', upload_folder)
    model, _, _ = model_from_checkpoint(run_copy)
    assert model.push_to_hub('me/lesions') == 'commit-url'
    repo, files, card = calls['upload']
    assert calls['create'] == 'me/lesions' and repo == 'me/lesions'
    assert files == ['README.md', 'config.json', 'model.safetensors']
    assert 'CDSAM.from_pretrained("me/lesions")' in card
