"""Adapters in peft's format both ways (issue #25 item 5): `cdsam-export --format peft` writes one peft LoRA folder per
adapted part, which peft's `PeftModel.from_pretrained` loads onto the same timm DINO and segment-anything MaskDecoder
with the same outputs; and cdsam loads such folders back."""
import copy
import pytest, torch
from conftest import run_in_process, tiny_config
from cdsam.config import dump_config
from cdsam.inference import model_from_checkpoint, load_peft_parts, peft_parts
from cdsam.lora import lora_layers, set_submodule

peft = pytest.importorskip('peft')

def plain(module):
    "A copy of `module` with every LoRA layer replaced by its frozen base layer (the pretrained module)."
    m = copy.deepcopy(module)
    for n, layer in lora_layers(m).items(): set_submodule(m, n, layer.base)
    return m.eval()

@pytest.fixture(scope='module')
def exported(data, tmp_path_factory):
    d = tmp_path_factory.mktemp('peft')
    cfg = d/'c.yaml'
    cfg.write_text(dump_config(tiny_config(data['voc'], d/'exp', optim=dict(epochs=1, lr=5e-3, lora_lr=5e-3))))
    r = run_in_process('cdsam-train', '--config', cfg, '--stages', '1-2')
    assert r.returncode == 0, r.stderr[-2000:]
    ck = d/'exp'/'t'/'checkpoints'/'stage2'/'latest.pt'
    r = run_in_process('cdsam-export', '--checkpoint', ck, '--output', d/'peft', '--format', 'peft')
    assert r.returncode == 0, r.stderr
    return ck, d/'peft', r.stdout

def test_one_folder_per_adapted_part(exported):
    ck, out, stdout = exported
    assert sorted(p.name for p in out.iterdir()) == ['dino', 'sam_decoder']
    for part in ('dino', 'sam_decoder'):
        assert {p.name for p in (out/part).iterdir()} == {'adapter_config.json', 'adapter_model.safetensors'}
    r = run_in_process('cdsam-export', '--checkpoint', ck, '--output', out, '--format', 'peft')
    assert r.returncode == 2 and 'exists' in r.stderr

def test_peft_loads_cdsam_adapters(exported):
    ck, out, _ = exported
    model, _, _ = model_from_checkpoint(ck)
    assert any(l.lora_B.weight.abs().sum() > 0 for l in lora_layers(model.backbone.vit).values())     # trained adapters
    x = torch.randn(2, 3, 56, 56)
    pm = peft.PeftModel.from_pretrained(plain(model.backbone.vit), out/'dino').eval()
    with torch.no_grad(): torch.testing.assert_close(pm(x), model.backbone.vit(x), atol=1e-6, rtol=0)
    pd = peft.PeftModel.from_pretrained(plain(model.sam.mask_decoder), out/'sam_decoder').eval()
    layers = lora_layers(model.sam.mask_decoder)                      # (SamDecoder calls the decoder's parts, batched)
    assert layers
    for n, layer in layers.items():                                   # each adapted layer: peft's equals cdsam's
        xi = torch.randn(3, layer.in_features)
        with torch.no_grad(): torch.testing.assert_close(pd.base_model.model.get_submodule(n)(xi), layer(xi), atol=1e-6, rtol=0)

def test_cdsam_loads_peft_folders(exported):
    ck, out, _ = exported
    model, _, _ = model_from_checkpoint(ck)
    bare = copy.deepcopy(model)
    for name, part in peft_parts(bare).items():
        for n, layer in lora_layers(part).items(): set_submodule(part, n, layer.base)
    assert load_peft_parts(bare, out) == ['dino', 'sam_decoder']
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(bare.eval()(x, ['skin lesion'] * 2)['masks'], model(x, ['skin lesion'] * 2)['masks'], atol=1e-6, rtol=0)
