"""Run by tools/gpu_check.py under torchrun / accelerate launch: `cdsam-train` (its `main`) with the arguments after the
probe file, recording the backend of the process group it starts; then rank 0 reloads the checkpoint it wrote and writes
`ok backend=... world=... reloaded ...` (or what failed) to the probe file."""
import os, sys
from pathlib import Path
import torch.distributed as dist

probe, argv = Path(sys.argv[1]), sys.argv[2:]
seen = {}
_init = dist.init_process_group
def init_process_group(*a, **kw):
    _init(*a, **kw)
    seen.update(backend=dist.get_backend(), world=dist.get_world_size())
dist.init_process_group = init_process_group

from cdsam.config import load_config
from cdsam.inference import model_from_checkpoint
from cdsam.train import main

rc = main(argv)
if int(os.environ.get('RANK', '0')) == 0:
    cfg = load_config(argv[argv.index('--config') + 1])
    ck = Path(cfg['run']['output_dir'])/cfg['run']['name']/'checkpoints'/'stage1'/'latest.pt'
    try:
        model, _, meta = model_from_checkpoint(ck)
        msg = (f"ok backend={seen.get('backend', 'none')} world={seen.get('world', 1)} reloaded {ck.name} "
               f"(epoch {meta['epoch']}, {sum(p.numel() for p in model.parameters()):,} parameters)")
        if rc or 'backend' not in seen: msg = f"failed: cdsam-train exit {rc}, process group {seen or 'never started'}"
    except Exception as e: msg = f"failed: {type(e).__name__}: {e}"
    probe.parent.mkdir(parents=True, exist_ok=True)
    probe.write_text(msg + '\n')
sys.exit(rc)
