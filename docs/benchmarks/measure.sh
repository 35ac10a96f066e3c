#!/usr/bin/env bash
# The side-by-side measurement of docs/benchmarks.md: the train_step bench and the PyTorch twin
# (benches/torch_twin.py, needs `pip install torch`), on all cores and on one core
# (`taskset -c 0`: the bench then runs its shards on one thread), plus the bench with candle's
# own thread pools left on (TRAIN_STEP_CANDLE_POOLS=1, the threading before `threads::configure`).
# Run from the repository root, alone on the machine, after
# `cargo bench --workspace --bench train_step --no-run`.
set -euo pipefail
BIN=${BIN:-$(ls -t target/release/deps/train_step-* | grep -v "\.d$" | head -1)}
ITERS=${ITERS:-10}
export TRAIN_STEP_ITERS=$ITERS
# The twin must build the models this binary times: its parameter counts against the bench's
# (stops here, before any timing, when they differ).
COUNTS=$(mktemp); trap 'rm -f "$COUNTS"' EXIT
TRAIN_STEP_PARAM_COUNTS=1 $BIN --bench >"$COUNTS" 2>/dev/null
python3 benches/torch_twin.py --param-counts --expect "$COUNTS" >/dev/null
echo "# $(date -u '+%F %T') UTC, $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== bench, all cores"; $BIN --bench 2>&1 | grep -E "^(train_step|infer)"
echo "== torch twin, all cores"; python3 benches/torch_twin.py --iters "$ITERS" 2>/dev/null
echo "== bench, one core (taskset -c 0)"; taskset -c 0 $BIN --bench 2>&1 | grep -E "^(train_step|infer)"
echo "== torch twin, one core (taskset -c 0, --threads 1)"
taskset -c 0 python3 benches/torch_twin.py --iters "$ITERS" --threads 1 2>/dev/null
echo "== bench, candle's pools on (TRAIN_STEP_CANDLE_POOLS=1)"
TRAIN_STEP_CANDLE_POOLS=1 $BIN --bench 2>&1 | grep -E "^(train_step|infer)"
echo "== asr-teacher, all cores / one core, alternated four times (threads-*.txt)"
for _ in 1 2 3 4; do
  echo -n "2cores "; TRAIN_STEP_ONLY=asr-teacher $BIN --bench 2>/dev/null
  echo -n "1core  "; TRAIN_STEP_ONLY=asr-teacher taskset -c 0 $BIN --bench 2>/dev/null
done
echo "# end $(date -u '+%T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
