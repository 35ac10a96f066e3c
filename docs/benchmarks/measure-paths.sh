#!/usr/bin/env bash
# A/B of train_step bench binaries built from one tree with one change each (docs/benchmarks.md,
# "Instruction-set paths"): each binary on all cores and on one core (`taskset -c 0`), the
# binaries alternated over ROUNDS rounds so that drift in the machine hits them alike.
#   docs/benchmarks/measure-paths.sh NAME=BINARY...
# Run from the repository root, alone on the machine.
set -euo pipefail
ROUNDS=${ROUNDS:-2}
export TRAIN_STEP_ITERS=${ITERS:-10}
echo "# $(date -u '+%F %T') UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  for nb in "$@"; do
    name=${nb%%=*}; bin=${nb#*=}
    echo "== round $r, $name, all cores"
    "$bin" --bench 2>&1 | grep -E "^(train_step|infer)"
    echo "== round $r, $name, one core (taskset -c 0)"
    taskset -c 0 "$bin" --bench 2>&1 | grep -E "^(train_step|infer)"
  done
done
echo "# end $(date -u '+%T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
