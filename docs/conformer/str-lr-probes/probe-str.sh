#!/usr/bin/env bash
# Word-image Conformer teachers at lower peak learning rates (teachers only, seed 0), chosen on dev.
set -uo pipefail
BIN=/work/tgt/release/experiments
CONF="--set teacher.encoder.kind=conformer --set oracle.encoder.kind=conformer --set student.encoder.kind=conformer"
for lr in 1e-3 2e-3; do
  echo "== lr $lr $(date -u +%T)"
  $BIN run str-oracle $CONF --set teacher.train.lr=$lr --set oracle.train.lr=$lr --kd none --no-progress --out /work/runs-conf/probe > /work/runs-conf/probe-lr$lr.stdout.txt 2>&1
  echo "   exit $? $(date -u +%T)"
done
