"""The feature cache's key covers every setting that changes the cached tokens, images or masks (issue #25): each model,
data and cache setting is either in the key or named here as irrelevant, with the reason; a new setting fails this test
until it is classified. Then the key is shown to change for each setting that is in it."""
import copy
import pytest, torch
from cdsam.defaults import MODEL_DEFAULTS, DATA_DEFAULTS, CACHE_DEFAULTS, TINY_MODEL_CFG, ModelPlan
from cdsam.model import build_backbone
from cdsam.data import SegDataset, voc_records
from cdsam.cache import FeatureCache
from cdsam.synthetic import make_synthetic_voc

IN_KEY = {  # setting -> the key field(s) that change with it
    'model.dino.name': 'backbone', 'model.dino.img_size': 'weights', 'model.dino.pretrained': 'weights',
    'model.dino.checkpoint': 'weights', 'model.dino.out_indices': 'out_indices', 'model.dino.kwargs': 'timm_kwargs',
    'data.root': 'files', 'data.format': 'files', 'data.train_split': 'files', 'data.valid_split': 'files',
    'data.image_dir': 'files', 'data.mask_dir': 'targets', 'data.classes': 'targets', 'data.resize': 'resize',
    'data.crop': 'crop', 'data.normalize': 'stats', 'data.skip_bad': 'files', 'data.valid_frac': 'files',
    'data.seed': 'files', 'data.test_frac': 'files', 'data.coco_mode': 'targets', 'data.annotations': 'targets',
    'data.unlabelled_dir': 'files', 'data.sources': 'files', 'data.absent_rate': 'targets', 'data.view': 'view', 'data.zoom': 'zoom',
    'data.negative_rate': 'targets',                                   # negatives: kind 'empty' in targets_fingerprint
    'cache.flips': 'variants', 'cache.dtype': 'dtype', 'cache.images': 'pixels', 'cache.views': 'variants',
    'cache.seed': 'seed',
}
IRRELEVANT = {  # setting -> why the cached tokens, images and masks do not depend on it
    'model.dino.grad_checkpointing': 'recomputes activations in backward; the same forward outputs',
    'data.text': 'the prompt goes to the text tower, not the image backbone', 'data.dx_prompts': 'prompts only',
    'data.phrasings': 'prompts only',
    'data.n_pos_points': 'prompts are sampled from the cached mask at load time', 'data.n_neg_points': 'as n_pos_points',
    'data.box_jitter': 'as n_pos_points', 'data.batch_size': 'batching', 'data.workers': 'loading processes',
    'cache.features': 'where the cache lives (memory or disk), not what it holds', 'cache.dir': 'where the file is',
    'cache.batch_size': 'batching of the build',
}

def settings():
    out = [f'model.dino.{k}' for k in MODEL_DEFAULTS['dino']] + [f'data.{k}' for k in DATA_DEFAULTS]
    return out + [f'cache.{k}' for k in CACHE_DEFAULTS]

def test_every_setting_is_classified():
    assert not set(IN_KEY) & set(IRRELEVANT)
    assert set(IN_KEY) | set(IRRELEVANT) == set(settings()), set(settings()) ^ (set(IN_KEY) | set(IRRELEVANT))

@pytest.fixture(scope='module')
def base(tmp_path_factory):
    root = make_synthetic_voc(tmp_path_factory.mktemp('ck')/'voc', n=4, size=40)
    recs = voc_records(root, None)
    dino = copy.deepcopy(TINY_MODEL_CFG['model']['dino'])
    return recs, dino

def key(recs, dino, ds_kw={}, **build_kw):
    torch.manual_seed(0)
    bb = build_backbone(ModelPlan(dino=dino)).eval()
    ds = SegDataset(recs, **{'resize': 48, 'crop': 42, 'train': True, **ds_kw})
    return FeatureCache.build(bb, ds, images=build_kw.pop('images', True), log=lambda *_: None, **build_kw).key

@pytest.mark.parametrize('field, change', [
    ('out_indices', dict(dino=dict(out_indices=[0]))), ('timm_kwargs', dict(dino=dict(kwargs=dict(depth=2, embed_dim=32, num_heads=2, init_values=0.5)))),
    ('weights', dict(dino=dict(img_size=42))), ('crop', dict(ds=dict(crop=28))), ('stats', dict(ds=dict(stats=((0.5,) * 3, (0.2,) * 3)))),
    ('variants', dict(build=dict(flips=False))), ('variants', dict(build=dict(views=2))), ('dtype', dict(build=dict(dtype='fp32'))),
    ('pixels', dict(build=dict(images=False))), ('view', dict(ds=dict(view='center_crop')))])
def test_key_changes_with_each_setting(base, field, change):
    recs, dino = base
    k0 = key(recs, dino)
    d = {**dino, **change.get('dino', {})}
    k1 = key(recs, d, change.get('ds', {}), **change.get('build', {}))
    assert k0[field] != k1.get(field), (field, k0[field])

def test_negatives_and_fields_of_view_are_in_the_targets_key(base):
    "A negative sample's empty target and a field-of-view mask change the cached masks: both are in `targets`."
    import dataclasses
    recs, dino = base
    k0 = key(recs, dino)['targets']
    assert key(recs + [dataclasses.replace(recs[0], kind='empty', prompt='other')], dino)['targets'] != k0
    assert key([dataclasses.replace(recs[0], ignore=recs[1].mask)] + recs[1:], dino)['targets'] != k0

def test_zoom_and_seed_in_the_key_of_zoomed_views(base):
    recs, dino = base
    a = key(recs, dino, views=2)
    assert a['zoom'] == [0.75, 1.25] and a['seed'] == 0
    assert key(recs, dino, {'zoom': (1.0, 2.0)}, views=2)['zoom'] == [1.0, 2.0] and key(recs, dino, views=2, seed=3)['seed'] == 3
