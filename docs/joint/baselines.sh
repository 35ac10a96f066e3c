#!/bin/sh
# The references em needs at its equal-seconds budget: CTC alone and two-stage oracle frame-KD
# with the student trained for the same EM_STEPS (CTC alone then costs fewer seconds than em,
# two-stage more), on run 1's teachers; restores run 2's em stages.
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-joint}
CORE=${CORE:-0}
D=docs/joint
RUN1=$(ls -d "$OUT"/str-oracle-* | head -1)
EM_STEPS=$(tail -1 $D/equal-steps.txt | awk '{print $NF}')
taskset -c "$CORE" $EXP run str-oracle --seeds 3 --kd ctc,frame-kd,em --no-progress --out "$OUT/equal" \
  --set student.train.steps="$EM_STEPS" --reuse "$RUN1" > $D/str-equal-baselines.stdout.txt 2>&1
