#!/usr/bin/env bash
# Wheels that tools/gpu_check.sh installs on a GPU machine without network, whose image has torch, timm, accelerate,
# pandas, scipy, scikit-learn and matplotlib but not fastai, open_clip or segment-anything (issue #27).
# Run once here, in the repository root:  bash tools/gpu_wheels.sh   (writes .whl/, ignored by git; a few MiB)
set -euo pipefail
DEST=${1:-.whl}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
# the versions this project is tested with (pip list here); --no-deps: each needed package is named
PKGS=(fastai==2.8.12 fastcore==2.2.41 fastprogress==1.1.6 fastdownload==0.0.8 fasttransform==0.0.5 plum-dispatch==2.9.0
      beartype==0.23.1 open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.7.0 segment-anything==1.0)
PLAT=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do PLAT+=(--platform "$p"); done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLAT[@]}" -d "$DEST" "${PKGS[@]}"
ls "$DEST"
du -sh "$DEST"
