#!/usr/bin/env bash
# The whole test suite: set-up, formatting and lints, unit and integration
# tests (KES test server, real OpenBao), the packages, then the real-systemd
# system tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --features failpoints --quiet -- -D warnings
cargo test --workspace --features failpoints
# packages.sh: .deb and .rpm, lintian and rpmlint; boot-chain.sh installs
# that .deb in a booted systemd and runs MinIO's boot chain through outages.
# rpm.sh installs, upgrades and erases the .rpm in a booted systemd;
# boot-chain-bullseye.sh runs the boot chain once under Debian 11;
# unit-shapes.sh runs it over the table of minio.service shapes operators
# have (sandboxing, users, env files, certificate auth, a template).
system_tests=(tests/packages.sh tests/system/wait.sh tests/system/envfile.sh tests/system/boot-chain.sh tests/system/unit-shapes.sh tests/system/status.sh tests/system/watch.sh tests/system/two-files.sh tests/system/rpm.sh tests/system/boot-chain-bullseye.sh)
for t in "${system_tests[@]}"; do
    echo "== $t"
    bash "$t"
done
# set -e stopped at the first failure, so reaching here means all passed.
echo "system-tests: ${#system_tests[@]} passed, 0 failed"
