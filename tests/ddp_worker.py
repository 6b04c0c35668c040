"""Run under `torchrun --nproc_per_node 2` by test_distributed.py: `cdsam-train` (its `main`), recording which samples each
rank loaded in each epoch, the weights it ended with, and every file it created, wrote, renamed or removed (an audit hook)."""
import json, os, sys
from pathlib import Path
import torch
import cdsam.data, cdsam.callbacks, cdsam.learner, cdsam.train

rank, audit = int(os.environ['RANK']), Path(os.environ['CDSAM_AUDIT'])
epoch, seen = [0], []
_getitem, _before_epoch, _fit_stage = cdsam.data.SegDataset.__getitem__, cdsam.callbacks.EpochSeed.before_epoch, cdsam.learner.CDSAMLearner.fit_stage

def getitem(self, i):
    seen.append(dict(epoch=epoch[0], split='train' if self.train else 'valid', id=self.records[i].id))
    return _getitem(self, i)

def before_epoch(self):
    epoch[0] = self.epoch
    return _before_epoch(self)

def fit_stage(self, **kw):
    _fit_stage(self, **kw)
    sd = {k: v.detach().cpu() for k, v in cdsam.callbacks.unwrap(self.model).model.state_dict().items()}
    torch.save(sd, audit/f'weights_rank{rank}.pt')

cdsam.data.SegDataset.__getitem__, cdsam.callbacks.EpochSeed.before_epoch, cdsam.learner.CDSAMLearner.fit_stage = getitem, before_epoch, fit_stage
watched, writes = str(Path(os.environ['CDSAM_WATCH']).resolve()), []
def hook(event, args):
    if event == 'open' and isinstance(args[0], (str, Path)):
        mode, flags = args[1], args[2] or 0
        if (mode and any(c in mode for c in 'wax+')) or (not mode and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
            writes.append(('open', str(args[0])))
    elif event in ('os.rename', 'os.remove', 'os.mkdir', 'os.unlink') and isinstance(args[0], (str, Path)):
        writes.append((event, str(args[0])))
sys.addaudithook(hook)
rc = cdsam.train.main(sys.argv[1:])
writes = [w for w in writes if str(Path(w[1]).resolve()).startswith(watched)]
(audit/f'seen_rank{rank}.json').write_text(json.dumps(dict(seen=seen, writes=writes)))
sys.exit(rc)
