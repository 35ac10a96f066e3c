#!/bin/sh
# The decisive runs of both default presets, in the order they were run, each alone on the
# 2-core machine (release build: cargo build --release -p experiments):
#   docs/decisive/run.sh seed0 asr|str    seed 0, fresh data cache, timed (/usr/bin/time -v)
#   docs/decisive/run.sh grid asr|str     frame-KD weight grid on seed 0 (teachers reused)
#   docs/decisive/run.sh seeds asr|str    seeds 0-2 (seed 0 reused from the runs above)
# Outputs are copied into docs/decisive/<task>/ by hand (see README there).
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-dec}
D=docs/decisive
P=$2-oracle
run0() { ls -d "$OUT/$P"-[0-9a-f]*[0-9a-f] | grep -v grid | head -1; }
case $1 in
seed0)
  /usr/bin/time -v -o $D/$2-seed0.time.txt $EXP run $P --no-progress --out "$OUT" \
    > $D/$2-seed0.stdout.txt 2>&1 ;;
grid)
  $EXP run $P --kd ctc,frame-kd --grid student.kd.frame-kd.weight=0.5,1,2 --reuse "$(run0)" \
    --no-progress --out "$OUT" > $D/$2-grid.stdout.txt 2>&1 ;;
seeds)
  REUSE=""
  for d in "$OUT/$P"-*; do case $d in *grid*) ;; *) REUSE="$REUSE --reuse $d" ;; esac; done
  $EXP run $P --seeds 3 $REUSE --no-progress --out "$OUT" > $D/$2-seeds.stdout.txt 2>&1 ;;
*) echo "usage: $0 seed0|grid|seeds asr|str" >&2; exit 2 ;;
esac
