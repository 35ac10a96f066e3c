#!/bin/sh
# Copy a finished run directory's tables, plots, per-example edit counts and stage reports into
# docs/decisive/<name>/ and write compare.md (experiments compare on the copied results.csv).
#   docs/decisive/collect.sh RUN_DIR NAME
set -e
EXP=${EXP:-./target/release/experiments}
src=$1; dst=docs/decisive/$2
mkdir -p "$dst"
for f in results.csv results.md config.toml command.txt teacher-dev-curves.png posteriors.png; do
  [ -f "$src/$f" ] && cp "$src/$f" "$dst/"
done
for s in "$src"/seed-*; do
  for st in "$s"/*/; do
    n=$(basename "$st"); mkdir -p "$dst/$(basename "$s")/$n"
    for f in edits-dev.csv edits-test.csv report.json stage-key.txt; do
      [ -f "$st$f" ] && cp "$st$f" "$dst/$(basename "$s")/$n/"
    done
  done
  [ -f "$s/results.csv" ] && cp "$s/results.csv" "$dst/$(basename "$s")/"
done
$EXP compare "$dst/results.csv" > "$dst/compare.md"
