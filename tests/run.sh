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
# have (sandboxing, users, env files, certificate auth, a template);
# readme.sh runs README's Install line and quick start as written;
# cluster.sh boots four nodes under a real Prometheus (fleet alerts, a
# sealed Vault, a stopped watch, an expiring certificate, an API-key
# rotation across the cluster);
# arm64.sh runs the Rust tests built for aarch64 through qemu-user, and
# boot-chain-arm64.sh the boot chain under an arm64 Debian through qemu.
system_tests=(tests/packages.sh tests/arm64.sh tests/system/readme.sh tests/system/wait.sh tests/system/envfile.sh tests/system/boot-chain.sh tests/system/unit-shapes.sh tests/system/status.sh tests/system/watch.sh tests/system/cluster.sh tests/system/two-files.sh tests/system/rpm.sh tests/system/boot-chain-bullseye.sh tests/system/boot-chain-arm64.sh)
# A test that cannot run on this machine exits 77 and writes its reason to
# $KESGATE_SKIP_REASON; the summary lists it, so nothing is skipped silently.
reason=$(mktemp)
trap 'rm -f "$reason"' EXIT
skipped=()
for t in "${system_tests[@]}"; do
    echo "== $t"
    rc=0
    : >"$reason"
    KESGATE_SKIP_REASON=$reason bash "$t" || rc=$?
    case $rc in
        0) ;;
        77) skipped+=("$t: $(cat "$reason")") ;;
        *) echo "system-tests: $t failed (exit $rc)"; exit 1 ;;
    esac
done
echo "system-tests: $((${#system_tests[@]} - ${#skipped[@]})) passed, 0 failed, ${#skipped[@]} skipped"
for s in "${skipped[@]}"; do echo "  skipped: $s"; done
