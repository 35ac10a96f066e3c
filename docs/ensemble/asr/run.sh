#!/bin/sh
# Ensemble distillation and soft targets as a regulariser on synthetic speech: config.toml
# (the asr-oracle preset without its oracle, half budgets, three members). Three seeds, one
# core, release build:
#   cargo build --release -p experiments
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-ens}
taskset -c "${CORE:-1}" $EXP run --config docs/ensemble/asr/config.toml asr-ensemble --seeds 3 \
  --no-progress --out "$OUT" > docs/ensemble/asr/stdout.txt 2>&1
