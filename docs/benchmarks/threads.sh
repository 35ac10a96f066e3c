#!/usr/bin/env bash
# Runs the train_step bench binary under thread settings; one line per model per setting.
BIN=${BIN:-$(ls -t target/release/deps/train_step-* | grep -v "\.d$" | head -1)}
export TRAIN_STEP_ITERS=${ITERS:-8}
run() { echo "== $*"; env "$@" $BIN --bench 2>/dev/null | grep -E "^(train_step|infer)" ; }
run X=default
run CANDLE_NUM_THREADS=1
run CANDLE_BARRIER_POOL_SPIN_LIMIT=0
run CANDLE_BARRIER_POOL_SPIN_LIMIT=1000
run RAYON_NUM_THREADS=1 CANDLE_NUM_THREADS=1
