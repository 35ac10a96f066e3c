#!/usr/bin/env bash
# The project's test command: installs system packages the tests need, then runs every test
# (unit, integration, and the end-to-end `experiments run ... --quick` of both presets).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
