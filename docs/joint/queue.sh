#!/bin/sh
# After run 1 of docs/joint/run.sh: em at equal training seconds, then self-distillation and
# born-again generations on the same teachers (one core; EXP2: a binary with those methods).
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-joint}
CORE=${CORE:-0}
D=docs/joint
RUN1=$(ls -d "$OUT"/str-oracle-* | head -1)
EM_STEPS=$(python3 $D/equal_steps.py "$RUN1/results.csv" 2> $D/equal-steps.txt)
echo "em steps at equal seconds: $EM_STEPS" >> $D/equal-steps.txt
EXP=$EXP OUT=$OUT CORE=$CORE EM_STEPS=$EM_STEPS $D/run.sh
EXP2=${EXP2:-$EXP}
taskset -c "$CORE" $EXP2 run str-oracle --seeds 3 --kd ctc,self-kd --no-progress --out "$OUT/self-kd" \
  --set student.encoder.layers=2 --reuse "$RUN1" > $D/str-self-kd.stdout.txt 2>&1
taskset -c "$CORE" $EXP2 run str-oracle --seeds 3 --kd none --no-progress --out "$OUT/born-again" \
  --set born_again.generations=2 --reuse "$RUN1" > $D/str-born-again.stdout.txt 2>&1
