#!/usr/bin/env bash
# The project's test command: installs the system packages the tests need (espeak-ng, fonts,
# word lists), runs every test (unit, integration, and `experiments run ... --quick` of both
# presets end to end), then checks formatting and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
