#!/bin/sh
# Level-off runs of the claims pilot (docs/claims/plan.md, "Budgets"): each task's conventional
# teacher, oracle (source encoder as deep as the teacher's) and CTC-only student, seed 0, trained
# far past the preset budgets with the cosine schedule over the whole run and dev error every
# 1/20 of it. One core each (taskset), so that their seconds are 1-core seconds; read steps.
# Release build: cargo build --release -p experiments
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-claims-lo}
CORE=${CORE:-1}
D=docs/claims/leveloff
taskset -c "$CORE" $EXP run asr-oracle --kd ctc --no-progress --out "$OUT" \
  --set oracle.encoder.layers=4 \
  --set teacher.train.steps=8000 --set oracle.train.steps=8000 --set student.train.steps=8000 \
  --set teacher.train.eval_every=400 --set oracle.train.eval_every=400 --set student.train.eval_every=400 \
  > $D/asr.stdout.txt 2>&1
taskset -c "$CORE" $EXP run str-oracle --kd ctc --no-progress --out "$OUT" \
  --set oracle.encoder.layers=3 \
  --set teacher.train.steps=6000 --set oracle.train.steps=6000 --set student.train.steps=6000 \
  --set teacher.train.eval_every=300 --set oracle.train.eval_every=300 --set student.train.eval_every=300 \
  > $D/str.stdout.txt 2>&1
