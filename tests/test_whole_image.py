"""Quality as a user measures it, on generated 4:3 lesion photographs with borders and vignettes, scored whole at their
original resolution: whole-image training beats centre-crop training, and the real packaged weights (LiteMedSAM's decoder,
a DINOv2 ViT-S/14) beat random ones at equal cost. Stage 1 with the feature cache at 224 px, in process (about a minute)."""
import copy
import pytest
from cdsam.config import load_config
from cdsam.defaults import TINY_MODEL_CFG
from cdsam.synthetic import make_synthetic_voc
from cdsam.learner import train_stages
from cdsam.inference import model_from_checkpoint, checkpoint_stats, evaluate_records
from cdsam.data import voc_records

pytestmark = pytest.mark.slow          # trains models: the CI's slow step (pytest -m slow)

SIZE, EPOCHS, IMAGES = 224, 8, 64

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "Whole-image Dice (micro, original resolution) of stage 1 trained three ways on the same generated set."
    from cdsam.weights import materialize_packaged_weights
    d = tmp_path_factory.mktemp('whole')
    w = materialize_packaged_weights(d/'weights')
    voc = make_synthetic_voc(d/'voc', n=IMAGES, size=SIZE * 3 // 4, seed=0)       # 224x168 photographs
    val = voc_records(voc, 'val')
    out = {}
    for name, view, real in (('whole', 'whole', True), ('center_crop', 'center_crop', True), ('random', 'whole', False)):
        m = copy.deepcopy(TINY_MODEL_CFG['model'])                                 # (the text tower stays tiny and frozen)
        m['dino'] = dict(name='vit_small_patch14_dinov2', img_size=SIZE, checkpoint=str(w['dinov2_vits14']) if real else None)
        m['sam'] = dict(type='vit_b', checkpoint=str(w['litemedsam']) if real else None)
        cfg = load_config(dict(model=m, data=dict(root=str(voc), resize=SIZE + 16, crop=SIZE, batch_size=8, view=view),
                               optim=dict(epochs=EPOCHS), cache=dict(features='memory'), lora=dict(r=4, alpha=8.0),
                               run=dict(name=name, output_dir=str(d/'exp'), seed=0)))
        r = train_stages(cfg, [1], log=lambda *a, **k: None)[0]
        model, _, meta = model_from_checkpoint(r['best'] or r['latest'])
        sc, preds = evaluate_records(model, val, SIZE, checkpoint_stats(meta))
        out[name] = dict(dice=sc['micro']['dice'], shapes=[tuple(p.shape) for p in preds])
    out['val'] = val
    print({k: round(v['dice'], 4) for k, v in out.items() if k != 'val'})
    return out

def test_scores_at_original_resolution(runs):
    from PIL import Image
    assert runs['whole']['shapes'] == [Image.open(r.mask).size[::-1] for r in runs['val']] == [(168, 224)] * len(runs['val'])

def test_whole_image_training_beats_centre_crop(runs):
    assert runs['whole']['dice'] >= runs['center_crop']['dice'] + 0.02, runs

def test_real_weights_beat_random_at_equal_cost(runs):
    assert runs['whole']['dice'] >= runs['random']['dice'] + 0.1, runs
