#!/bin/sh
# Soft targets as a regulariser (Hinton et al. 2015, section 5) on Fashion-MNIST: the large net
# trained on all 55,000 training images; the small net on a seeded 3 % of them (1,650 images),
# with hard labels alone (ctc-3pct) or with the large net's soft targets at tau 1, 2, 5 (the
# temperature is chosen on dev); ctc-100pct is the small net on all images, for its training
# error. Three seeds, one core (taskset), release build:
#   cargo build --release -p experiments
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-reg}
taskset -c "${CORE:-0}" $EXP run hinton-mnist --seeds 3 --no-progress --out "$OUT" \
  --kd ctc,ctc-100pct,ctc-3pct,hinton-t1-3pct,hinton-t2-3pct,hinton-t5-3pct \
  > docs/hinton-mnist/regulariser/stdout.txt 2>&1
