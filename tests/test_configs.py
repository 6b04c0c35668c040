"Every shipped config loads (known keys, right types); configs/demo.yaml is the demo's embedded default."
from pathlib import Path
import pytest, yaml
from cdsam.config import load_config
from cdsam.demo import DEMO_CONFIG
from cdsam.plan import stage_spec

CONFIGS = sorted((Path(__file__).parent.parent/'configs').glob('*.yaml'))

def test_expected_configs_exist():
    names = {p.name for p in CONFIGS}
    assert {f'stage{i}.yaml' for i in range(1, 5)} | {f'ham10000_voc_stage{i}.yaml' for i in range(1, 5)} | {'demo.yaml'} <= names

@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_loads(path):
    cfg = load_config(path)
    spec = stage_spec(cfg)
    if path.name.startswith(('stage', 'ham10000')): assert spec.id == int(path.stem[-1])
    if path.name.startswith('ham10000'): assert cfg['model']['dino']['name'].startswith('vit_large_patch14_dinov2') and cfg['data']['crop'] == 518
    if cfg['model']['dino']['pretrained'] or cfg['model']['dino']['checkpoint']:
        assert cfg['data']['normalize'] == 'imagenet', f"{path.name}: a pretrained DINO expects ImageNet statistics"

def test_demo_yaml_is_the_embedded_default():
    on_disk = yaml.safe_load((Path(__file__).parent.parent/'configs'/'demo.yaml').read_text())
    assert load_config(on_disk) == load_config(DEMO_CONFIG)

def test_stage_configs_do_not_restate_the_stage_plan():
    "configs/stage{1-4}.yaml say only what differs from STAGE_PLAN: the learning rates and epochs come from it."
    from cdsam.config import read_yaml
    from cdsam.defaults import STAGE_PLAN
    for i in range(1, 5):
        raw = read_yaml(Path(__file__).parent.parent/'configs'/f'stage{i}.yaml')
        assert not {'lr', 'lora_lr', 'epochs'} & set(raw.get('optim', {})), (i, raw.get('optim'))
        spec = stage_spec(load_config(raw))
        assert (spec.lr, spec.lora_lr, spec.epochs) == tuple(STAGE_PLAN[i][k] for k in ('lr', 'lora_lr', 'epochs'))
