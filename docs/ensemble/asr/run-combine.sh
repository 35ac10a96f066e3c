#!/bin/sh
# The same ensembles combined the two other ways ("product", "aligned"): the members are the
# finished stages of the run of run.sh (REUSE: its run directory), so only the ensemble's
# scoring and its students train again. One core, release build:
#   cargo build --release -p experiments
set -e
EXP=${EXP:-./target/release/experiments}
OUT=${OUT:-/work/runs-ens}
REUSE=${REUSE:?the run directory of docs/ensemble/asr/run.sh}
for how in aligned product; do
  taskset -c "${CORE:-1}" $EXP run --config docs/ensemble/asr/config.toml asr-ensemble --seeds 3 \
    --no-progress --out "$OUT" --reuse "$REUSE" --set ensemble.combine=$how \
    > docs/ensemble/asr/stdout-$how.txt 2>&1
done
