#!/usr/bin/env bash
# Set up a fresh machine, build, and run the speech preset end to end on the embedded
# (generated) data. Extra arguments go to `experiments run`, e.g. `--seeds 3` or `--quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release -p experiments -- run asr-oracle "$@"
