#!/usr/bin/env bash
# Installs the Debian packages the speech pipeline (the asr crate, tasks/asr) needs:
#   espeak-ng   - synthesises the default corpus (asr::synth)
#   wamerican   - /usr/share/dict/words: the English word list transcripts are drawn from
#   fortunes-min- public-domain English sentences (/usr/share/games/fortunes), the sentence source
#   flac, vorbis-tools - encoders used to (re)make the FLAC/Ogg test fixtures
# Idempotent: when every package is already installed it returns without touching apt.
set -euo pipefail

PKGS=(espeak-ng wamerican fortunes-min flac vorbis-tools)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-asr: all packages present (${PKGS[*]})"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-asr: installing ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
espeak-ng --version
