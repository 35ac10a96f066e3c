#!/bin/sh
# Copies what the tables read from the run directories into docs/ensemble/ (results, resolved
# config, command, revision, CPU, and each seed's agreement.json), then writes the tables:
#   docs/ensemble/collect.sh /work/runs-ens
set -e
RUNS=${1:?the --out folder of the runs}
copy() {  # run-dir destination
  mkdir -p "$2"
  for f in results.csv results.md config.toml command.txt revision.txt cpu.txt; do cp "$1/$f" "$2/"; done
  for s in "$1"/seed-*; do
    if [ -f "$s/ensemble/agreement.json" ]; then
      mkdir -p "$2/$(basename "$s")/ensemble"
      cp "$s/ensemble/agreement.json" "$2/$(basename "$s")/ensemble/"
    fi
  done
}
copy "$(ls -d "$RUNS"/hinton-mnist-* | head -1)" docs/ensemble/classify/run
python3 docs/ensemble/table.py classify docs/ensemble/classify/run > docs/ensemble/classify/table.md
dirs=""
for d in "$RUNS"/asr-ensemble-*; do
  how=$(python3 -c "import tomllib,sys; print(tomllib.load(open(sys.argv[1],'rb'))['ensemble'].get('combine','mean'))" "$d/config.toml")
  [ -f "$d/results.csv" ] || continue
  copy "$d" "docs/ensemble/asr/$how"
  dirs="$dirs docs/ensemble/asr/$how"
done
python3 docs/ensemble/table.py asr $dirs > docs/ensemble/asr/table.md
