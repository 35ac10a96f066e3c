#!/bin/sh
# One-stage oracle-guided self-distillation (em) on the word-image preset, against two-stage
# oracle distillation (oracle/frame-kd) and CTC alone, three seeds, one core (taskset).
#   1. the preset's students, em at the student budget (1,200 steps);
#   2. em again at the steps that cost it the two-stage training seconds (the oracle's plus its
#      frame-KD student's), measured in run 1: EM_STEPS, reusing run 1's teachers.
# Release build: cargo build --release -p experiments
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-joint}
CORE=${CORE:-0}
D=docs/joint
if [ -z "$EM_STEPS" ]; then
  taskset -c "$CORE" $EXP run str-oracle --seeds 3 --kd ctc,frame-kd,em --no-progress --out "$OUT" \
    > $D/str.stdout.txt 2>&1
else
  RUN1=$(ls -d "$OUT"/str-oracle-* | head -1)
  taskset -c "$CORE" $EXP run str-oracle --seeds 3 --kd em --no-progress --out "$OUT/equal" \
    --set student.train.steps="$EM_STEPS" --reuse "$RUN1" > $D/str-equal.stdout.txt 2>&1
fi
