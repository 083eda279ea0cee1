#!/usr/bin/env bash
# A cluster, not a host (issue 30). Four booted Debian 12 hosts, each an
# overlay on the one cached rootfs, node1–node4 on 127.0.0.2–.5 (they share
# the host's network namespace; /etc/hosts names them, so MINIO_VOLUMES is
# the same on every node), each with the .deb, MinIO's unit running the
# MinIO stand-in as a distributed node (it compares its MINIO_* set with its
# peers' as MinIO does) and Debian's node_exporter; all adopted with
# `kesgate init --adopt` from the same hand-pasted env. One KES (the test
# server, on a real OpenBao) on the host. Debian's prometheus, run directly
# (temporary TSDB, 1 s scrape and evaluation), evaluates the shipped alert
# rules unchanged: a rule with `for:` is seen `pending` (promtool tests its
# timing), KesgateWatchStale (none) `firing` on a backdated metrics file.
# Through Prometheus's HTTP API:
#   - a healthy cluster: one fingerprint on four nodes, no alert;
#   - node4's KES endpoint list in another order (its configuration and env
#     file agree, kesgate_env_matches 1): KesgateFleetOddNodeOut names node4
#     and only it;
#   - the Vault sealed: KesgateVaultSealed; every MinIO restart waits; the
#     unseal: all four MinIO active (the time from unseal to the last one is
#     printed);
#   - node2's watch stopped: KesgateWatchStale for node2 alone;
#   - KES's certificate inside warn_before: KesgateCertificateExpiresSoon;
#   - the API key rotated as docs/operations.md says: fingerprints differ
#     only during the switch (the odd node, then the even split, pending),
#     a node restarted alone is refused by its peers, all four restarted
#     together run the new key, and the old key is on no node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
harness_init

NODE_DEBS=$CACHE/debs-bookworm
ls "$NODE_DEBS"/prometheus-node-exporter_*.deb >/dev/null 2>&1 || die "run tests/setup.sh first (it fetches Debian's node_exporter)"
command -v prometheus >/dev/null || die "run tests/setup.sh first (Debian's prometheus)"
started=$(date +%s)

NODES=(1 2 3 4)
ip_of() { echo "127.0.0.$(($1 + 1))"; }
declare -a CT_PIDS NSPAWN_PIDS ROOTS
MOUNTS=()
PROM_PID=

cluster_cleanup() {
    local n
    for n in "${!CT_PIDS[@]}"; do
        use_node "$n"
        stop_container || true
    done
    [ -z "$PROM_PID" ] || kill "$PROM_PID" 2>/dev/null || true
    for n in "${MOUNTS[@]}"; do umount "$n" 2>/dev/null || umount -l "$n" || true; done
    harness_cleanup
}
trap cluster_cleanup EXIT

# use_node N: what ct, unit_prop and friends act on from now on.
use_node() { CT_PID=${CT_PIDS[$1]}; NSPAWN_PID=${NSPAWN_PIDS[$1]}; CT_ROOT=${ROOTS[$1]}; }

# port_on_nodes: a port free on all four node addresses (the OS picks it).
port_on_nodes() {
    python3 - <<'PY'
import socket
while True:
    first = socket.socket()
    first.bind(("127.0.0.2", 0))
    port, held, ok = first.getsockname()[1], [first], True
    for n in (3, 4, 5):
        s = socket.socket()
        try:
            s.bind((f"127.0.0.{n}", port))
            held.append(s)
        except OSError:
            ok = False
            break
    for s in held:
        s.close()
    if ok:
        print(port)
        break
PY
}

# boot_node N: an overlay of the cached rootfs, booted as nodeN.
boot_node() {
    local n=$1 d=$work/node$1 m
    mkdir -p "$d/upper" "$d/ovwork" "$d/rootfs"
    mount -t overlay overlay -o "lowerdir=$ROOTFS_CACHE,upperdir=$d/upper,workdir=$d/ovwork" "$d/rootfs"
    MOUNTS+=("$d/rootfs")
    CT_ROOT=$d/rootfs
    {
        printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n'
        for m in "${NODES[@]}"; do printf '%s node%s\n' "$(ip_of "$m")" "$m"; done
    } >"$CT_ROOT/etc/hosts"
    echo "node$n" >"$CT_ROOT/etc/hostname"
    start_nspawn "$d"
    CT_PIDS[n]=$CT_PID NSPAWN_PIDS[n]=$NSPAWN_PID ROOTS[n]=$CT_ROOT
    [ "$(ct cat /proc/sys/kernel/hostname)" = "node$n" ] || die "node$n is called $(ct cat /proc/sys/kernel/hostname)"
}

KES_PID=
# start_cluster_kes IDS [ARGS…]: (re)starts the one KES on the host, its
# policy granting MinIO's paths to the comma-separated identities IDS.
start_cluster_kes() {
    if [ -n "$KES_PID" ]; then kill "$KES_PID"; wait "$KES_PID" 2>/dev/null || true; fi
    start_kes kes "$KES_PORT" "$@"
    KES_PID=${KES_PIDS[-1]}
}

# setup_node N: MinIO's unit and the stand-in, the hand-pasted env (the same
# on every node), Debian's node_exporter on the node's address, the .deb.
setup_node() {
    local n=$1
    use_node "$n"
    install -D -m 644 "$work/kes/ca.pem" "$CT_ROOT/etc/kes/ca.pem"
    minio_unit "$MINIO_PORT"
    cat >"$CT_ROOT/etc/default/minio" <<ENV
# MinIO settings (the operator's)
MINIO_VOLUMES="http://node{1...4}:$MINIO_PORT/data"
MINIO_OPTS="--address :$MINIO_PORT"
MINIO_ROOT_USER=minio-admin
MINIO_ROOT_PASSWORD="$CLUSTER_PASSWORD"
# KES, pasted by hand from the runbook
MINIO_KMS_KES_ENDPOINT=https://localhost:$KES_PORT,https://127.0.0.1:$KES_PORT
MINIO_KMS_KES_KEY_NAME=minio-backend-default-key
MINIO_KMS_KES_API_KEY=$API_KEY
MINIO_KMS_KES_CAPATH=/etc/kes/ca.pem
ENV
    chmod 600 "$CT_ROOT/etc/default/minio"
    mkdir -p "$CT_ROOT/root/debs"
    cp "$NODE_DEBS"/*.deb "$CT_ROOT/root/debs/"
    printf '#!/bin/sh\nexit 101\n' >"$CT_ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$CT_ROOT/usr/sbin/policy-rc.d"
    ct sh -c 'dpkg -i /root/debs/*.deb' >"$work/dpkg-node$n.log" 2>&1 || die "dpkg -i node_exporter: $(tail -20 "$work/dpkg-node$n.log")"
    rm "$CT_ROOT/usr/sbin/policy-rc.d"
    echo "ARGS=\"--web.listen-address=$(ip_of "$n"):$NODE_PORT\"" >"$CT_ROOT/etc/default/prometheus-node-exporter"
    ct systemctl restart prometheus-node-exporter.service
    cp "$DEB" "$CT_ROOT/root/kesgate.deb"
    ct dpkg -i /root/kesgate.deb >"$work/dpkg$n.log" 2>&1 || die "dpkg -i kesgate on node$n: $(cat "$work/dpkg$n.log")"
    # Watch rounds every 2 s, not every minute.
    mkdir -p "$CT_ROOT/etc/systemd/system/kesgate-watch.timer.d"
    printf '[Timer]\nOnBootSec=\nOnActiveSec=0\nOnUnitActiveSec=2s\nRandomizedDelaySec=0\n' \
        >"$CT_ROOT/etc/systemd/system/kesgate-watch.timer.d/zz-test.conf"
    ct systemctl daemon-reload
}

# restart_minio NODE…: `systemctl restart minio` on those nodes together
# (none waits for another), then each active.
restart_minio() {
    local n
    for n in "$@"; do use_node "$n"; ct systemctl restart --no-block minio.service; done
    for n in "$@"; do use_node "$n"; wait_for_prop minio.service ActiveState '^active$' >/dev/null; done
}

P() { python3 "$here/promql.py" "http://127.0.0.1:$PROM_PORT" "$@"; }
# until_true WHAT CMD…: polls CMD (bounded: 90 s) until it succeeds.
until_true() {
    local what=$1 i
    shift
    for i in $(seq 1 900); do "$@" && return 0; sleep 0.1; done
    die "never: $what; alerts now: $(P alerts | tr '\n' ';')"
}
# alert NAME STATE [LABEL=VALUE]: an alert in that state (with that label).
# (Each asks first, then reads: a reader that stops early must not turn a
# failed question into an answer.)
alert() {
    local all
    all=$(P alerts) || return 1
    all=$(grep -E "^$1 $2 " <<<"$all") || return 1
    [ -z "${3:-}" ] || grep -qE "(^| |,)$3(,|$)" <<<"$all"
}
no_alert() {
    local all
    all=$(P alerts) || return 1
    ! grep -q "^$1 " <<<"$all"
}
alert_lines() {
    local all
    all=$(P alerts) || return 1
    grep -c "^$1 " <<<"$all" || true
}
fingerprints() { P query 'count by (fingerprint) (kesgate_minio_env_info)'; }
# one_fingerprint_of_four: every node reports, all with one fingerprint.
one_fingerprint_of_four() {
    local out
    out=$(fingerprints)
    [ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] && [ "${out##* }" = 4 ]
}
# evaluated_since T: every rule group was evaluated after Unix time T.
evaluated_since() { python3 -c 'import sys; sys.exit(float(sys.argv[1]) <= float(sys.argv[2]))' "$(P evaluated)" "$1"; }

log "four nodes from one rootfs (overlays), node1–node4 on 127.0.0.2–.5"
API_KEY=$("$BIN" identity new | sed -n 2p)
IDENTITY=$(printf '%s' "$API_KEY" | "$BIN" identity of - | tail -n1)
CLUSTER_PASSWORD=$(head -c 18 /dev/urandom | base64)
KES_PORT=$(free_port)
MINIO_PORT=$(port_on_nodes)
NODE_PORT=$(port_on_nodes)
[ "$NODE_PORT" != "$MINIO_PORT" ] || NODE_PORT=$(port_on_nodes)
start_openbao "$work" "$(free_port)"
unseal_openbao
build_deb
start_cluster_kes "$IDENTITY"
for n in "${NODES[@]}"; do boot_node "$n"; done
for n in "${NODES[@]}"; do setup_node "$n"; done

log "MinIO as the runbook leaves it, started on all four: a distributed cluster"
for n in "${NODES[@]}"; do use_node "$n"; ct systemctl enable minio.service >/dev/null 2>&1; done
restart_minio "${NODES[@]}"

log "kesgate init --adopt on every node, the same [wait] and [vault] added; MinIO restarted together, now gated"
for n in "${NODES[@]}"; do
    use_node "$n"
    ct kesgate init --adopt >"$work/adopt$n.log" 2>&1 || die "init --adopt on node$n: $(cat "$work/adopt$n.log")"
    ! grep -qF "$API_KEY" "$work/adopt$n.log" || die "init --adopt printed the API key"
    printf '\n[wait]\ntimeout = "0"\nmax_interval = "500ms"\n\n[vault]\naddress = "%s"\n' "$BAO_ADDR" \
        >>"$CT_ROOT/etc/kesgate/kesgate.toml"
    ct kesgate render --check >"$work/check$n.log" 2>&1 || die "render --check on node$n: $(cat "$work/check$n.log")"
    ct systemctl restart kesgate-watch.timer
done
cmp -s "${ROOTS[1]}/etc/kesgate/kesgate.toml" "${ROOTS[4]}/etc/kesgate/kesgate.toml" || die "the nodes' configurations differ"
restart_minio "${NODES[@]}"

log "Debian's prometheus scrapes the four every second and evaluates the shipped rules, unchanged"
PROM_PORT=$(free_port)
{
    printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
    printf 'rule_files:\n  - %s\n' "$repo/packaging/prometheus/kesgate-alerts.yml"
    printf 'scrape_configs:\n  - job_name: node\n    static_configs:\n'
    for n in "${NODES[@]}"; do
        printf '      - targets: ["%s:%s"]\n        labels: {instance: node%s}\n' "$(ip_of "$n")" "$NODE_PORT" "$n"
    done
} >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$work/prometheus.log" 2>&1 &
PROM_PID=$!
until_true "prometheus ready" P ready

log "healthy: one fingerprint on four nodes, no alert"
until_true "four nodes with one fingerprint" one_fingerprint_of_four
t=$(date +%s.%N)
until_true "rules evaluated" evaluated_since "$t"
[ -z "$(P alerts)" ] || die "alerts on a healthy cluster: $(P alerts)"
fp_before=$(fingerprints | cut -d' ' -f1)
echo "   $fp_before on node1–node4"

log "node4 lists the KES endpoints in another order: KesgateFleetOddNodeOut names node4, and only node4"
use_node 4
cp "$CT_ROOT/etc/kesgate/kesgate.toml" "$work/node4.toml"
sed -i "s|https://localhost:$KES_PORT,https://127.0.0.1:$KES_PORT|https://127.0.0.1:$KES_PORT,https://localhost:$KES_PORT|" "$CT_ROOT/etc/kesgate/kesgate.toml"
! cmp -s "$work/node4.toml" "$CT_ROOT/etc/kesgate/kesgate.toml" || die "the endpoint line was not found"
ct kesgate render >"$work/render4.log" 2>&1 || die "render on node4: $(cat "$work/render4.log")"
until_true "KesgateFleetOddNodeOut pending for node4" alert KesgateFleetOddNodeOut pending instance=node4
[ "$(alert_lines KesgateFleetOddNodeOut)" = 1 ] || die "more than node4 named: $(P alerts)"
no_alert KesgateFleetSplit || die "an odd node is not a split: $(P alerts)"
[ "$(P query 'kesgate_env_matches{instance="node4"}' | cut -d' ' -f2)" = 1 ] || die "node4's env file should match its own configuration"
P alerts | grep '^KesgateFleetOddNodeOut' | sed 's/^/   /'
cp "$work/node4.toml" "$CT_ROOT/etc/kesgate/kesgate.toml"
ct kesgate render >"$work/render4.log" 2>&1 || die "render on node4: $(cat "$work/render4.log")"
until_true "node4 back in the fleet" no_alert KesgateFleetOddNodeOut

log "the Vault sealed: KesgateVaultSealed on every node; every MinIO restart waits"
seal_openbao
for n in "${NODES[@]}"; do until_true "KesgateVaultSealed for node$n" alert KesgateVaultSealed pending "instance=node$n"; done
declare -a cursors
for n in "${NODES[@]}"; do use_node "$n"; cursors[n]=$(cursor); ct systemctl restart --no-block minio.service; done
for n in "${NODES[@]}"; do
    use_node "$n"
    wait_for_kesgate_line "${cursors[$n]}" "sealed" || die "node$n's preflight does not say the Vault is sealed"
    [ "$(unit_prop minio.service ActiveState)" = activating ] || die "node$n's MinIO did not wait: $(unit_prop minio.service ActiveState)"
done
log "unseal: all four MinIO active"
t_unseal=$(monotonic_us)
unseal_openbao
last=0
for n in "${NODES[@]}"; do
    use_node "$n"
    wait_for_prop minio.service ActiveState '^active$' >/dev/null
    at=$(unit_prop minio.service ActiveEnterTimestampMonotonic)
    [ "$at" -gt "$last" ] && last=$at
done
echo "   from the unseal to the last of four MinIO active: $(((last - t_unseal) / 1000)) ms (KES sees the unseal at its next key-store check, every 10 s)"
until_true "the seal alert resolved" no_alert KesgateVaultSealed

log "node2's watch stops: KesgateWatchStale fires for node2, and only node2"
use_node 2
ct systemctl stop kesgate-watch.timer
wait_for_prop kesgate-watch.service ActiveState '^(inactive|failed)$' >/dev/null
ct touch -d '-20 minutes' /var/lib/prometheus/node-exporter/kesgate.prom
until_true "KesgateWatchStale firing for node2" alert KesgateWatchStale firing instance=node2
[ "$(alert_lines KesgateWatchStale)" = 1 ] || die "more than node2 stale: $(P alerts)"
ct systemctl start kesgate-watch.timer
until_true "node2's watch writes again" no_alert KesgateWatchStale

log "KES's certificate expires in 10 days: KesgateCertificateExpiresSoon"
start_cluster_kes "$IDENTITY" --cert-days 10
until_true "KesgateCertificateExpiresSoon pending" alert KesgateCertificateExpiresSoon pending role=server

log "rotate the API key as docs/operations.md says"
use_node 1
ct kesgate identity new --policy minio --key-file /root/kes-api-key.new >"$work/new-key.log" 2>&1 || die "identity new: $(cat "$work/new-key.log")"
NEW_ID=$(tail -n1 "$work/new-key.log")
NEW_KEY=$(cat "${ROOTS[1]}/root/kes-api-key.new")
! grep -qF "$NEW_KEY" "$work/new-key.log" || die "identity new --key-file printed the key"
# KES trusts both identities (and presents a certificate valid a year again).
start_cluster_kes "$IDENTITY,$NEW_ID"
for n in 2 3 4; do install -m 600 "${ROOTS[1]}/root/kes-api-key.new" "${ROOTS[$n]}/root/kes-api-key.new"; done
switch_node() {
    use_node "$1"
    ct sh -c 'kesgate identity switch --key-file /root/kes-api-key.new && rm /root/kes-api-key.new' \
        >"$work/switch$1.log" 2>&1 || die "identity switch on node$1: $(cat "$work/switch$1.log")"
    ! grep -qF -e "$NEW_KEY" -e "$API_KEY" "$work/switch$1.log" || die "identity switch printed a key"
}
switch_node 1
until_true "node1, switched first, is the odd node" alert KesgateFleetOddNodeOut pending instance=node1
switch_node 2
until_true "two against two: the even split" alert KesgateFleetSplit pending
no_alert KesgateFleetOddNodeOut || die "an even split names no odd node: $(P alerts)"
switch_node 3
switch_node 4
until_true "one fingerprint again" one_fingerprint_of_four
fp_after=$(fingerprints | cut -d' ' -f1)
[ "$fp_after" != "$fp_before" ] || die "the fingerprint is keyed by the API key: it must change"
until_true "the split resolved" no_alert KesgateFleetSplit
until_true "no odd node" no_alert KesgateFleetOddNodeOut

log "a node restarted alone with the new key finds no matching peer and waits (a rolling restart never finishes)"
use_node 1
c1=$(cursor)
ct systemctl restart --no-block minio.service
for i in $(seq 1 600); do
    ct journalctl --cursor "$c1" -u minio.service --no-pager -q | grep -q "has incorrect configuration" && break
    sleep 0.05
done
line=$(ct journalctl --cursor "$c1" -u minio.service --no-pager -q -o cat | grep -m1 "has incorrect configuration" || true)
[ -n "$line" ] || die "node1's MinIO did not compare with its peers: $(ct journalctl --cursor "$c1" -u minio -n 20 --no-pager)"
echo "   $line"
[ "$(unit_prop minio.service ActiveState)" = activating ] || die "node1's MinIO started among peers with another set"

log "the other three restarted together: all four run the new key"
restart_minio 2 3 4
use_node 1
wait_for_prop minio.service ActiveState '^active$' >/dev/null
for n in "${NODES[@]}"; do
    use_node "$n"
    [ "$(main_env MINIO_KMS_KES_API_KEY)" = "$NEW_KEY" ] || die "node$n's MinIO does not run the new key"
done

log "the old identity removed from KES: MinIO active on all four, the old key on no node"
start_cluster_kes "$NEW_ID"
for n in "${NODES[@]}"; do
    use_node "$n"
    [ "$(unit_prop minio.service ActiveState)" = active ] || die "node$n's MinIO is not active"
    held=$(grep -rlsF -- "$API_KEY" "$work/node$n/upper" || true)
    [ -z "$held" ] || die "node$n's files hold the old key: $held"
    held=$(ct grep -rlsF -- "$API_KEY" /run /tmp || true)
    [ -z "$held" ] || die "node$n's /run or /tmp holds the old key: $held"
    ! ct journalctl --no-pager -o cat | grep -qF -- "$API_KEY" || die "node$n's journal holds the old key"
done
t=$(date +%s.%N)
until_true "rules evaluated" evaluated_since "$t"
until_true "no fleet alert" no_alert KesgateFleetOddNodeOut

echo "cluster: all checks passed in $(($(date +%s) - started)) s"
