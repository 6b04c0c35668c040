"""Measure data.absent_rate on a generated two-class set (issue #25 item 4): each image holds a brown mole and / or a
bluish bruise (each present with probability 0.6, at least one), so prompting a class that is not in the image has a
right answer, the empty mask. Stage 1 of the demo's tiny models, two seeds per rate; scored on the validation images
for every (image, class) pair: Dice where the class is present, and the share of absent-class prompts answered with
an empty mask (fewer than 1 % of the pixels).

    python tools/absent_rate_check.py 0 0.5 1.0
"""
import copy, sys, tempfile
from pathlib import Path
import numpy as np, torch
from PIL import Image, ImageDraw, ImageFilter
from cdsam.config import load_config
from cdsam.defaults import DEMO_CONFIG
from cdsam.synthetic import lesion_image, blob_polygon
from cdsam.learner import train_stages
from cdsam.inference import model_from_checkpoint, checkpoint_stats, evaluate_records
from cdsam.data import voc_records, absent_class_records

CLASSES = ['background', 'mole', 'bruise']

def mole_or_bruise(rng, size=64):
    "An image with a mole (class 1) and / or a bruise (class 2), and its palette mask."
    has = [rng.random() < 0.6, rng.random() < 0.6]
    if not any(has): has[int(rng.integers(2))] = True
    img, (mole,) = lesion_image(rng, size, 1, hairs=1)
    if not has[0]: img, _ = lesion_image(rng, size, 0, hairs=1)
    m = Image.new('P', (size, size), 0); d = ImageDraw.Draw(m)
    if has[0]: d.polygon(mole, fill=1)
    if has[1]:
        r = rng.uniform(0.12, 0.2) * size; cx, cy = rng.uniform(r * 1.3, size - r * 1.3, 2)
        bruise = blob_polygon(rng, cx, cy, r)
        d.polygon(bruise, fill=2)
        bm = Image.new('L', (size, size), 0); ImageDraw.Draw(bm).polygon(bruise, fill=255)
        a = np.asarray(bm.filter(ImageFilter.GaussianBlur(1.5)), np.float32)[..., None] / 255 * 0.7
        img = Image.fromarray((np.asarray(img, np.float32) * (1 - a) + np.array([110, 80, 150], np.float32) * a).astype(np.uint8))
    return img, m

def make_set(root: Path, n: int = 60, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'): (root/sub).mkdir(parents=True, exist_ok=True)
    ids = [f'img_{i:03d}' for i in range(n)]
    for id_ in ids:
        img, m = mole_or_bruise(rng)
        img.save(root/'JPEGImages'/f'{id_}.jpg', quality=95); m.save(root/'SegmentationClass'/f'{id_}.png')
    (root/'ImageSets/Segmentation/train.txt').write_text('\n'.join(ids[:int(n * .75)]))
    (root/'ImageSets/Segmentation/val.txt').write_text('\n'.join(ids[int(n * .75):]))
    return root

def measure(rate: float, root: Path, out: Path, seed: int) -> tuple[float, float]:
    c = copy.deepcopy(DEMO_CONFIG)
    c['data'] = dict(root=str(root), resize=64, crop=56, batch_size=8, classes=CLASSES, absent_rate=rate, seed=seed)
    c['eval'] = {}; c['per_stage'] = {1: dict(optim=dict(epochs=15))}
    c['run'] = dict(name=f'rate{rate}_seed{seed}', output_dir=str(out), seed=seed)
    r = train_stages(load_config(c), [1], log=lambda *a, **k: None)[0]
    model, cfg, meta = model_from_checkpoint(r['best'] or r['latest'])
    present = voc_records(root, 'val', classes=CLASSES)
    every = absent_class_records(present, CLASSES, 1.0)
    sc, preds = evaluate_records(model, every, 56, checkpoint_stats(meta))
    n = len(present)
    return float(np.mean(sc['per_image']['dice'][:n])), float(np.mean([p.float().mean() < 0.01 for p in preds[n:]]))

if __name__ == '__main__':
    torch.set_num_threads(1)
    d = Path(tempfile.mkdtemp())
    root = make_set(d/'voc')
    print(f"{'absent_rate':>11}  {'Dice, class present':>20}  {'empty answer, class absent':>27}")
    for rate in [float(x) for x in sys.argv[1:] or (0, 0.5, 1.0)]:
        dice, empty = np.mean([measure(rate, root, d/'exp', s) for s in (0, 1)], 0)
        print(f"{rate:>11}  {dice:>20.4f}  {empty:>27.4f}", flush=True)
