#!/usr/bin/env bash
# The bench and the PyTorch twin alternated over ROUNDS rounds on chosen lines, all cores and one
# core (`taskset -c 0`), ITERS timed steps each: for lines whose single-run medians are too
# noisy on a shared machine to compare (docs/benchmarks.md). Needs torch; run from the
# repository root, alone on the machine, after `cargo bench --workspace --bench train_step
# --no-run`.
#   ONLY=str-student,str-student-frame-kd docs/benchmarks/measure-rounds.sh
set -euo pipefail
BIN=${BIN:-$(ls -t target/release/deps/train_step-* | grep -v "\.d$" | head -1)}
export TRAIN_STEP_ITERS=${ITERS:-20} TRAIN_STEP_ONLY=${ONLY:?set ONLY to comma-separated lines}
echo "# $(date -u '+%F %T') UTC, $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "${ROUNDS:-3}"); do
  echo "== round $r, project, all cores"; $BIN --bench 2>&1 | grep -E "^train_step"
  echo "== round $r, torch, all cores"
  python3 benches/torch_twin.py --iters "$TRAIN_STEP_ITERS" --only "$ONLY" 2>/dev/null | grep -E "^torch_step" | sed 's/^torch_step/train_step/'
  echo "== round $r, project, one core"; taskset -c 0 $BIN --bench 2>&1 | grep -E "^train_step"
  echo "== round $r, torch, one core"
  taskset -c 0 python3 benches/torch_twin.py --iters "$TRAIN_STEP_ITERS" --threads 1 --only "$ONLY" 2>/dev/null | grep -E "^torch_step" | sed 's/^torch_step/train_step/'
done
echo "# end $(date -u '+%T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
