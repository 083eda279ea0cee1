#!/usr/bin/env bash
# The boot chain under an arm64 Debian 12, booted with systemd-nspawn
# through qemu-user (binfmt_misc, registered by tests/setup.sh with the F
# flag): the arm64 .deb, and the KES test server and MinIO stand-in built
# for aarch64. dpkg -i, sealed → unsealed at boot, the MinIO stand-in gets
# the KES variables, seeding runs. QEMU's user mode refuses seccomp, so
# systemd skips SystemCallFilter= there: the arm64 system-call filter is not
# tested by this test.
# Exits 77 (skipped, with the reason) where arm64 binaries cannot run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
skip() {
    echo "SKIP: boot-chain-arm64: $*" >&2
    [ -z "${KESGATE_SKIP_REASON:-}" ] || printf '%s\n' "$*" >"$KESGATE_SKIP_REASON"
    exit 77
}
binfmt=/proc/sys/fs/binfmt_misc/qemu-aarch64
[ -e "$binfmt" ] || skip "no qemu-aarch64 entry in binfmt_misc (mounting binfmt_misc or registering failed: see tests/setup.sh)"
grep -qx enabled "$binfmt" || skip "the qemu-aarch64 binfmt entry is disabled"
grep -q '^flags: .*F' "$binfmt" || skip "the qemu-aarch64 binfmt entry lacks the F flag (a container could not find its interpreter)"
triple=aarch64-unknown-linux-gnu
cd "$repo"
packaging/build deb --arch arm64 >/tmp/kesgate-build-arm64.$$.log 2>&1 \
    || { tail -20 /tmp/kesgate-build-arm64.$$.log >&2; rm -f /tmp/kesgate-build-arm64.$$.log; exit 1; }
rm -f /tmp/kesgate-build-arm64.$$.log
# Release builds: under emulation a debug TLS stack is slow.
RUSTC=/usr/bin/rustc cargo zigbuild --locked --quiet --release -p kes-test-server --bins --target "$triple.2.28"
deb=$(ls -t target/$triple/debian/kesgate_*_arm64.deb | head -n1)
# The arm64 binary computes the same identity as the host's.
key=$(target/debug/kesgate identity new | sed -n 2p)
[ "$(printf '%s' "$key" | target/$triple/release/kesgate identity of - | tail -n1)" \
    = "$(printf '%s' "$key" | target/debug/kesgate identity of - | tail -n1)" ] \
    || { echo "FAIL: the arm64 binary computes another identity for the same API key" >&2; exit 1; }
echo "   the arm64 binary (through qemu) computes the same identity as the host's"
KESGATE_ARCH=arm64 KESGATE_DEB=$repo/$deb TEST_BINS=$repo/target/$triple/release BOOT_CHAIN_ONLY=1 \
    exec bash "$repo/tests/system/boot-chain.sh"
