#!/usr/bin/env bash
# Conformer teachers against the transformer teachers of the same sizes, bench and PyTorch twin
# side by side (benches/torch_twin.py, needs `pip install torch`), all cores then one core
# (`taskset -c 0`), each pair alternated twice. Run from the repository root, alone on the
# machine, after `cargo bench --workspace --bench train_step --no-run`.
set -euo pipefail
BIN=${BIN:-$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/train_step-* | grep -v "\.d$" | head -1)}
ITERS=${ITERS:-10}
LINES=asr-teacher,asr-teacher-conformer,str-teacher,str-teacher-conformer
export TRAIN_STEP_ITERS=$ITERS TRAIN_STEP_ONLY=$LINES
# The twin must build the models this binary times: its parameter counts against the bench's
# (stops here, before any timing, when they differ).
COUNTS=$(mktemp); trap 'rm -f "$COUNTS"' EXIT
TRAIN_STEP_PARAM_COUNTS=1 $BIN --bench >"$COUNTS" 2>/dev/null
python3 benches/torch_twin.py --param-counts --expect "$COUNTS" >/dev/null
echo "# $(date -u '+%F %T') UTC, $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
  echo "== round $round: bench, all cores"; $BIN --bench 2>&1 | grep -E "^train_step"
  echo "== round $round: torch twin, all cores"; python3 benches/torch_twin.py --iters "$ITERS" --only $LINES 2>/dev/null
done
for round in 1 2; do
  echo "== round $round: bench, one core (taskset -c 0)"; taskset -c 0 $BIN --bench 2>&1 | grep -E "^train_step"
  echo "== round $round: torch twin, one core (taskset -c 0, --threads 1)"
  taskset -c 0 python3 benches/torch_twin.py --iters "$ITERS" --only $LINES --threads 1 2>/dev/null
done
echo "# end $(date -u '+%T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
