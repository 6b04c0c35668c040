#!/usr/bin/env bash
# The one-call GPU check of issue #27 (at most 8 minutes on one H100 / H200):
#   bash tools/gpu_check.sh OUT [tools/gpu_check.py options]
# every stage 1-4 through stage_learner / Learner.fit with DINOv2 ViT-B/14 and ViT-L/14 at 518 px and the SAM vit_b
# decoder, in bf16 and fp16 AMP (cached and uncached, gradient checkpointing on / off in stage 4); DDP over NCCL through
# torchrun and accelerate launch with a checkpoint saved and reloaded; inference at batch 1 and 16; cdsam-predict on a
# folder; peak memory and the largest batch for 24 / 80 GiB. Writes OUT/gpu_check.csv, OUT/gpu_check.md, OUT/gpu_check.log.
# The GPU machine has no network and lacks fastai, open_clip and segment-anything: they are installed from .whl/
# (bash tools/gpu_wheels.sh here first; carry .whl). On the CPU: bash tools/gpu_check.sh OUT --tiny --device cpu
set -uo pipefail
OUT=${1:?usage: tools/gpu_check.sh OUT_DIR [gpu_check.py options]}
shift
cd "$(dirname "$0")/.."
if ! python3 -c "import fastai, open_clip, segment_anything" 2>/dev/null; then
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "gpu_check: fastai / open_clip / segment-anything are missing and .whl/ holds no wheels: run bash tools/gpu_wheels.sh on a machine with network, and carry .whl" >&2
        exit 2
    fi
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/cdsam-site .whl/*.whl || exit 2
    export PYTHONPATH=/tmp/cdsam-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT"
python3 tools/gpu_check.py "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
