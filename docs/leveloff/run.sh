#!/bin/sh
# Level-off runs: each teacher, the oracle and the CTC-only student trained far past the default
# budgets (cosine schedule over the whole run), dev error every 250 / 200 steps. The two runs were
# started together on the 2 cores, so read steps, not seconds. Release build:
#   cargo build --release -p experiments
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-lo}
D=docs/leveloff
$EXP run asr-oracle --kd ctc --no-progress --out "$OUT" \
  --set teacher.encoder.kind=conformer --set oracle.encoder.kind=conformer \
  --set data.synth.n_train=6000 \
  --set teacher.train.steps=5000 --set oracle.train.steps=5000 --set student.train.steps=5000 \
  --set teacher.train.eval_every=250 --set oracle.train.eval_every=250 --set student.train.eval_every=250 \
  > $D/asr.stdout.txt 2>&1 &
$EXP run str-oracle --kd ctc --no-progress --out "$OUT" \
  --set student.encoder.d_ff=192 \
  --set teacher.train.steps=4000 --set oracle.train.steps=4000 --set student.train.steps=4000 \
  --set teacher.train.eval_every=200 --set oracle.train.eval_every=200 --set student.train.eval_every=200 \
  > $D/str.stdout.txt 2>&1 &
wait
