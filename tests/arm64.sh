#!/usr/bin/env bash
# The Rust test suite (the unit tests in src/ and every integration test)
# built for aarch64 with Debian's rustc-web and run through qemu-user: the
# test binaries by the runner below, the kesgate binary they start through
# binfmt_misc (tests/setup.sh registers qemu-aarch64). Host programs the
# tests use (OpenBao, moto, Go's oracles) run natively beside them.
#
# Two fault loops run smaller under emulation, where a process start costs
# ~50× more: the SIGKILL loop of render.rs (KESGATE_CRASH_RUNS, 1,000 on
# x86_64) and the exhaustive failpoint sweep of crash.rs (every point ×
# every fault × 8 passes: 390 s here), which is skipped — its failpoints are
# the same code path on both architectures and run in full on x86_64.
# Doc tests are left out: rustdoc is rustup's, which has no aarch64 library.
# Exits 77 (skipped, with the reason) where arm64 binaries cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
skip() {
    echo "SKIP: arm64 test suite: $*" >&2
    [ -z "${KESGATE_SKIP_REASON:-}" ] || printf '%s\n' "$*" >"$KESGATE_SKIP_REASON"
    exit 77
}
binfmt=/proc/sys/fs/binfmt_misc/qemu-aarch64
[ -e "$binfmt" ] && grep -qx enabled "$binfmt" \
    || skip "no enabled qemu-aarch64 entry in binfmt_misc (see tests/setup.sh)"
command -v qemu-aarch64-static >/dev/null || skip "qemu-user-static is not installed"
[ -x /usr/bin/rustc ] || skip "Debian's rustc-web is not installed (tests/setup.sh)"
start=$(date +%s)
RUSTC=/usr/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static KESGATE_CRASH_RUNS=100 \
    cargo-zigbuild test --locked --no-fail-fast --workspace --lib --bins --tests --features failpoints --target aarch64-unknown-linux-gnu.2.28 -- \
    --skip a_fault_between_any_two_steps_leaves_minio_the_old_or_the_new_configuration
echo "arm64 test suite: passed in $(($(date +%s) - start)) s (build included)"
