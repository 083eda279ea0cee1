#!/usr/bin/env bash
# The whole test suite: set-up, formatting and lints, unit and integration
# tests (KES test server, real OpenBao), then the real-systemd system tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
system_tests=(tests/system/wait.sh tests/system/envfile.sh)
for t in "${system_tests[@]}"; do
    echo "== $t"
    bash "$t"
done
# set -e stopped at the first failure, so reaching here means all passed.
echo "system-tests: ${#system_tests[@]} passed, 0 failed"
