#!/bin/sh
# The plan's cap in steps: each level-off model (the configs of run.sh) trained for 400 steps on
# both cores of the 2-core machine, alone on it; its training seconds (evaluation excluded) per
# step give the steps that 30 minutes of 2-core time buy. Release build:
#   cargo build --release -p experiments
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-claims-cap}
D=docs/claims/leveloff
$EXP run asr-oracle --kd ctc --no-progress --out "$OUT" \
  --set oracle.encoder.layers=4 \
  --set teacher.train.steps=400 --set oracle.train.steps=400 --set student.train.steps=400 \
  --set teacher.train.eval_every=400 --set oracle.train.eval_every=400 --set student.train.eval_every=400 \
  > $D/cap-asr.stdout.txt 2>&1
$EXP run str-oracle --kd ctc --no-progress --out "$OUT" \
  --set oracle.encoder.layers=3 \
  --set teacher.train.steps=400 --set oracle.train.steps=400 --set student.train.steps=400 \
  --set teacher.train.eval_every=400 --set oracle.train.eval_every=400 --set student.train.eval_every=400 \
  > $D/cap-str.stdout.txt 2>&1
