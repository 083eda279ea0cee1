#!/usr/bin/env bash
# The whole test suite: set-up, formatting and lints, unit and integration
# tests (KES test server, real OpenBao), then the real-systemd system tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
for t in tests/system/wait.sh tests/system/envfile.sh; do
    echo "== $t"
    bash "$t"
done
