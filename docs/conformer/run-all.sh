#!/usr/bin/env bash
# Conformer vs transformer, both presets, one seed, alone on the machine.
set -uo pipefail
cd /work/main
BIN=/work/tgt/release/experiments
OUT=/work/runs-conf
CONF="--set teacher.encoder.kind=conformer --set oracle.encoder.kind=conformer --set student.encoder.kind=conformer"
echo "# start $(date -u '+%F %T') UTC $(git rev-parse --short HEAD)"
docs/benchmarks/measure-conformer.sh > docs/benchmarks/conformer-2026-12-01.txt 2>&1
for preset in asr-oracle str-oracle; do
  for kind in conformer transformer; do
    sets=""; [ $kind = conformer ] && sets=$CONF
    echo "== $preset $kind $(date -u +%T)"
    /usr/bin/time -v $BIN run $preset $sets --no-progress --out $OUT > $OUT/$preset-$kind.stdout.txt 2> $OUT/$preset-$kind.time.txt
    echo "   exit $? $(date -u +%T)"
  done
done
echo "# end $(date -u '+%F %T') UTC"
