#!/bin/sh
# Hinton et al. (2015), section 4, table 1 (an ensemble distilled into one model of the same
# size) on Fashion-MNIST: the hinton-mnist preset's large net as every model. The preset
# teacher and three more members from their own initial weights (members = 4), combined by the
# mean of their probabilities; one net of the same architecture and budget distilled from the
# ensemble, and one from the single preset teacher, at T = 1 (the temperature the full-data
# table chose on dev: docs/hinton-mnist/results.csv). Three seeds, one core, release build:
#   cargo build --release -p experiments
# REUSE points at the regulariser run (docs/hinton-mnist/regulariser/run.sh), whose teachers
# have the same stage keys; without it they are trained again (same numbers on the same machine
# kind and shard count).
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-ens}
REUSE=${REUSE:+--reuse $REUSE}
taskset -c "${CORE:-0}" $EXP run hinton-mnist --seeds 3 --no-progress --out "$OUT" $REUSE \
  --kd hinton-t1 \
  --set ensemble.members=4 \
  --set student.encoder.d_model=1200 --set student.encoder.dropout=0.3 \
  --set student.train.steps=8000 --set student.train.eval_every=1000 \
  > docs/ensemble/classify/stdout.txt 2>&1
