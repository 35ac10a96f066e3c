#!/usr/bin/env bash
# Installs everything a fresh machine lacks (Debian packages: espeak-ng and the sentence source
# for speech, font families and the word list for word images). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/setup-asr.sh"
"$here/setup-str.sh"
"$here/setup-classify.sh"
