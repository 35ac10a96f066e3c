#!/bin/sh
# The anti-copy strategy study (docs/strategies/README.md): every strategy as a grid cell over
# `oracle.anti_copy.kind`, each oracle distilled into frame-KD and Guided-CTC students; the
# conventional teacher and the students that do not involve the oracle are trained once and
# shared by every cell. Release build first: cargo build --release -p experiments
#   docs/strategies/run.sh asr|str [SEEDS]     (SEEDS: 1 by default)
# A grid runs cell by cell, each cell all its seeds, so run SEEDS = 1, 2, 3 in turn: every
# strategy gets seed 0 before any gets seed 1, and each call restores what the last trained.
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-strategies}
SEEDS=${2:-1}
# KINDS=a,b,... runs a subset (later seeds of the strategies still in contention).
KINDS=${KINDS:-structural,no-label-position,random-expansion,label-masking,other-labels,token-substitution,label-context}
case $1 in
asr)
  # Below the preset's budgets (the study compares strategies; "Decide the paper's claims"
  # re-runs the chosen one at level-off): half the training utterances and steps.
  SETS="--set data.synth.n_train=3000 --set teacher.train.steps=1000 --set oracle.train.steps=1000
        --set student.train.steps=600 --set teacher.train.eval_every=200
        --set oracle.train.eval_every=200 --set student.train.eval_every=200" ;;
str)
  # The preset's budgets.
  SETS="" ;;
*) echo "usage: $0 asr|str [SEEDS]" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
$EXP run "$1-oracle" --seeds "$SEEDS" --kd ctc,frame-kd,guided-ctc $SETS \
  --grid "oracle.anti_copy.kind=$KINDS" --no-progress --out "$OUT"
