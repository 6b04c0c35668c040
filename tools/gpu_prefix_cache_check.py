"""GPU check of the stage-2 prefix cache (issue #18): bf16 autocast equality and step time / peak memory of the backbone
part of a stage-2 step (LoRA on the last 4 blocks, LoRA-off teacher), cached vs uncached. Needs torch, timm, fastcore.
Usage: PYTHONPATH=. python tools/gpu_prefix_cache_check.py vit_base_patch14_dinov2 518 8   (results also in $OUT/*.json)"""
import sys, time, json, os
import torch
from cdsam.backbone import DinoBackbone
from cdsam.lora import inject_lora, vit_last_blocks_targets, disable_lora, mark_only_lora_trainable
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
name, size, B = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else ('vit_small_patch14_dinov2', 56, 2)
kw = {} if dev == 'cuda' else dict(depth=4, embed_dim=32, num_heads=2)
torch.manual_seed(0)
bb = DinoBackbone(name, img_size=size, init_values=1.0, **kw).to(dev)
K = 4 if bb.depth >= 8 else 1
inject_lora(bb, vit_last_blocks_targets(bb.vit, K, prefix='vit'), r=8, alpha=16)
mark_only_lora_trainable(bb)
for n, p in bb.named_parameters():
    if 'lora_B' in n: torch.nn.init.normal_(p, std=0.02)
n = bb.depth - K
x = torch.randn(B, 3, size, size, device=dev)
grid = bb.grid_size(x.shape[-2:])
out = {}
with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16):
    full = bb(x)['tokens'].float()
    pre = bb.prefix_tokens(x, n)
    cached = bb.forward_from(pre.to(torch.float16).float(), n, grid)['tokens'].float()   # the cache stores fp16
out['bf16 tokens max abs diff (fp16-stored prefix vs full forward)'] = float((full - cached).abs().max())
out['bf16 tokens max abs value'] = float(full.abs().max())
with torch.no_grad(): pre32 = bb.prefix_tokens(x, n)
def grads(f):
    bb.zero_grad(); f().backward()
    return {k: p.grad.clone() for k, p in bb.named_parameters() if p.grad is not None}
tgt = torch.randn_like(full)
g_full = grads(lambda: (bb(x)['tokens'] - tgt).pow(2).mean())
g_pre = grads(lambda: (bb.forward_from(pre32, n, grid)['tokens'] - tgt).pow(2).mean())
out['fp32 LoRA grads max rel diff'] = max(float((g_full[k] - g_pre[k]).abs().max() / (g_full[k].abs().max() + 1e-12)) for k in g_full)
opt = torch.optim.AdamW([p for p in bb.parameters() if p.requires_grad], lr=1e-4)
with torch.no_grad():
    with disable_lora(bb): teacher_cached = bb(x)['tokens']
def step(cached_path):
    with torch.autocast(dev, dtype=torch.bfloat16):
        if cached_path:
            s = bb.forward_from(pre32.to(torch.float16).float(), n, grid)['tokens']; t = teacher_cached
        else:
            s = bb(x)['tokens']
            with torch.no_grad(), disable_lora(bb): t = bb(x)['tokens']
        loss = (s.float() - tgt).pow(2).mean() + 0.05 * (s.float() - t.float()).pow(2).mean()
    loss.backward(); opt.step(); opt.zero_grad()
for mode in (False, True):
    for _ in range(2): step(mode)
    if dev == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(5): step(mode)
    if dev == 'cuda': torch.cuda.synchronize()
    k = 'cached' if mode else 'uncached'
    out[f'{k} step ms'] = (time.perf_counter() - t0) / 5 * 1e3
    out[f'{k} peak MiB'] = torch.cuda.max_memory_allocated() / 2**20 if dev == 'cuda' else None
out['speed-up'] = out['uncached step ms'] / out['cached step ms']
out.update(device=torch.cuda.get_device_name() if dev == 'cuda' else 'cpu', model=name, size=size, batch=B, blocks=bb.depth, K=K)
print(json.dumps(out, indent=1))
os.makedirs(os.environ.get('OUT', '/tmp/gpu_out'), exist_ok=True)
json.dump(out, open(os.path.join(os.environ.get('OUT', '/tmp/gpu_out'), f'prefix_{name}_{size}.json'), 'w'), indent=1)
