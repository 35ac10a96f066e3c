#!/usr/bin/env bash
# Prepares the recorded-speech corpus of the `asr-drascula` preset (docs/real-speech.md) from
# Debian main's `drascula` package (English voices of "Drascula: The Vampire Strikes Back",
# freely licensed by Alcachofa Soft): downloads the package through apt, unpacks it under
# data/ without installing it (no ScummVM needed), checks the package's checksum against apt's
# index, and writes data/drascula/{train,dev,test}.tsv, the WAV files and report.txt.
# Nothing is fetched at run time; run this once. Idempotent: a finished preparation is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=data/drascula
if [ -f "$OUT/report.txt" ] && [ -f "$OUT/test.tsv" ]; then
    echo "prepare-drascula: $OUT already prepared"; cat "$OUT/report.txt"; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
mkdir -p data/debs
if ! ls data/debs/drascula_*_all.deb >/dev/null 2>&1; then
    $SUDO apt-get update
    (cd data/debs && apt-get download drascula)
fi
deb=$(ls data/debs/drascula_*_all.deb | head -n1)
want=$(apt-cache show drascula | awk -v v="$(dpkg-deb -f "$deb" Version)" \
    '/^Version:/{ok = ($2 == v)} ok && /^SHA256:/{print $2; exit}')
got=$(sha256sum "$deb" | cut -d' ' -f1)
if [ -z "$want" ] || [ "$want" != "$got" ]; then
    echo "prepare-drascula: $deb: SHA256 $got does not match apt's index (${want:-none})" >&2
    exit 1
fi
echo "prepare-drascula: $deb $(dpkg-deb -f "$deb" Version) sha256 $got"
rm -rf data/drascula-deb
dpkg-deb -x "$deb" data/drascula-deb
cargo build --release -p experiments
./target/release/experiments prepare drascula \
    --from data/drascula-deb/usr/share/scummvm/drascula/en --out "$OUT"
