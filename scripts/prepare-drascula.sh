#!/usr/bin/env bash
# Prepares the recorded-speech corpus of the `asr-drascula` preset (docs/real-speech.md) from
# Debian main's `drascula` package (English voices of "Drascula: The Vampire Strikes Back",
# freely licensed by Alcachofa Soft), or with `es` that of `asr-drascula-es` from
# `drascula-spanish` (the Spanish dub; its text tables are in the English package's data file):
# downloads the packages through apt, checks each package's checksum against apt's index,
# unpacks them under data/ without installing them (no ScummVM needed), and writes
# data/drascula{,-es}/{train,dev,test}.tsv, the WAV files and report.txt.
# Nothing is fetched at run time; run this once. Idempotent: a finished preparation is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
lang=${1:-en}
case "$lang" in
    en) OUT=data/drascula; packages=(drascula) ;;
    es) OUT=data/drascula-es; packages=(drascula drascula-spanish) ;;
    *) echo "prepare-drascula: language $lang: expected en or es" >&2; exit 2 ;;
esac
if [ -f "$OUT/report.txt" ] && [ -f "$OUT/test.tsv" ]; then
    echo "prepare-drascula: $OUT already prepared"; cat "$OUT/report.txt"; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
mkdir -p data/debs
updated=0
for pkg in "${packages[@]}"; do
    if ! ls data/debs/"${pkg}"_*_all.deb >/dev/null 2>&1; then
        if [ "$updated" -eq 0 ]; then $SUDO apt-get update; updated=1; fi
        (cd data/debs && apt-get download "$pkg")
    fi
    deb=$(ls data/debs/"${pkg}"_*_all.deb | head -n1)
    want=$(apt-cache show "$pkg" | awk -v v="$(dpkg-deb -f "$deb" Version)" \
        '/^Version:/{ok = ($2 == v)} ok && /^SHA256:/{print $2; exit}')
    got=$(sha256sum "$deb" | cut -d' ' -f1)
    if [ -z "$want" ] || [ "$want" != "$got" ]; then
        echo "prepare-drascula: $deb: SHA256 $got does not match apt's index (${want:-none})" >&2
        exit 1
    fi
    echo "prepare-drascula: $deb $(dpkg-deb -f "$deb" Version) sha256 $got"
done
# Both packages unpack into one tree: the Spanish folder's drascula.dat links to the English one.
rm -rf data/drascula-deb
for pkg in "${packages[@]}"; do
    dpkg-deb -x "$(ls data/debs/"${pkg}"_*_all.deb | head -n1)" data/drascula-deb
done
cargo build --release -p experiments
./target/release/experiments prepare drascula --language "$lang" \
    --from "data/drascula-deb/usr/share/scummvm/drascula/$lang" --out "$OUT"
