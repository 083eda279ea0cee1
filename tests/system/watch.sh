#!/usr/bin/env bash
# Between boots (issue 22) under a real systemd 252: the .deb starts
# kesgate-watch.timer; an unconfigured host and a quiet one hear nothing
# (neither kesgate nor systemd writes a line per round); Debian's own
# prometheus-node-exporter serves the metrics file from its default
# textfile directory with the right values; sealing the real OpenBao is
# exactly one journal entry and flips kesgate_vault_sealed in the first
# round after it; the unseal one entry back (KES's own return, after its
# health check, is not told again); removing the package removes the file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
harness_init

ID_WATCH_VAULT=3c0cbb240a354cfaaf1d83def712314a
ID_WATCH_CERT=4564ab5d5aab446782529b813c71593e
NODE_DEBS=${KESGATE_CACHE:-/var/cache/kesgate-tests}/debs-bookworm
ls "$NODE_DEBS"/prometheus-node-exporter_*.deb >/dev/null 2>&1 || die "run tests/setup.sh first (it fetches Debian's node_exporter)"

chain_setup
build_deb
NODE_PORT=$(free_port)

chain_host

log "Debian's prometheus-node-exporter, on a port of its own, its textfile directory as packaged"
mkdir -p "$CT_ROOT/root/debs"
cp "$NODE_DEBS"/*.deb "$CT_ROOT/root/debs/"
# Installed without being started (policy-rc.d), then told its port.
printf '#!/bin/sh\nexit 101\n' >"$CT_ROOT/usr/sbin/policy-rc.d"
chmod 755 "$CT_ROOT/usr/sbin/policy-rc.d"
ct sh -c 'dpkg -i /root/debs/*.deb' >"$work/dpkg-node.log" 2>&1 || die "dpkg -i node_exporter: $(tail -20 "$work/dpkg-node.log")"
rm "$CT_ROOT/usr/sbin/policy-rc.d"
echo "ARGS=\"--web.listen-address=127.0.0.1:$NODE_PORT\"" >"$CT_ROOT/etc/default/prometheus-node-exporter"
ct systemctl restart prometheus-node-exporter.service
[ "$(ct stat -c %U /var/lib/prometheus)" = prometheus ] || die "Debian's layout changed: /var/lib/prometheus is not prometheus's"
scrape() {
    local i
    for i in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$NODE_PORT/metrics" >"$work/scrape.txt" 2>/dev/null && return
        sleep 0.05
    done
    die "node_exporter does not answer on $NODE_PORT"
}
scrape

log "install the .deb: the timer is enabled and started (Debian's way), once a minute, accurate to 1 s"
cp "$DEB" "$CT_ROOT/root/kesgate.deb"
ct dpkg -i /root/kesgate.deb >"$work/dpkg.log" 2>&1 || die "dpkg -i: $(cat "$work/dpkg.log")"
[ "$(unit_prop kesgate-watch.timer ActiveState)" = active ] || die "the .deb did not start kesgate-watch.timer"
[ "$(ct systemctl is-enabled kesgate-watch.timer)" = enabled ] || die "kesgate-watch.timer is not enabled"
timers=$(unit_prop kesgate-watch.timer TimersMonotonic)
[[ $timers == *"OnBootUSec"*"1min"* && $timers == *"OnUnitActiveUSec"*"1min"* ]] || die "not once a minute: $timers"
[ "$(unit_prop kesgate-watch.timer AccuracyUSec)" = 1s ] || die "AccuracySec is not 1s"
for u in kesgate-watch.service kesgate-watch.timer; do
    ct systemd-analyze verify --man=no "$u" >"$work/verify.out" 2>"$work/verify.err" \
        || die "systemd-analyze verify $u: $(cat "$work/verify.err")"
    [ ! -s "$work/verify.err" ] || die "systemd-analyze verify $u warns: $(cat "$work/verify.err")"
done
ct systemd-analyze security --offline=true --threshold=20 /usr/lib/systemd/system/kesgate-watch.service \
    >"$work/security.out" 2>&1 || die "kesgate-watch.service scores above 2.0: $(tail -n1 "$work/security.out")"
echo "   $(tail -n1 "$work/security.out")"

# synced_cursor: the journal's position after everything logged so far was
# stored (`--sync`: messages sent before it are in), at a marker entry of
# the test's own (journal_lines reads from the cursor's entry on, which
# must not be one of the watch's): a round that ended before it cannot
# show up after it.
synced_cursor() {
    ct systemd-cat -t kesgate-watch-test echo "test: mark"
    ct journalctl --sync
    cursor
}

# The rest of the test does not wait minutes: rounds every 2 s.
mkdir -p "$CT_ROOT/etc/systemd/system/kesgate-watch.timer.d"
printf '[Timer]\nOnBootSec=\nOnActiveSec=0\nOnUnitActiveSec=2s\nRandomizedDelaySec=0\n' \
    >"$CT_ROOT/etc/systemd/system/kesgate-watch.timer.d/zz-test.conf"
ct systemctl daemon-reload
ct systemctl restart kesgate-watch.timer
c_rounds=$(synced_cursor)

# round_after T: waits (bounded) until a round that started after the
# monotonic time T (µs) has finished; the service manager is the clock.
round_after() {
    local i start exit_ state
    for i in $(seq 1 600); do
        start=$(unit_prop kesgate-watch.service ExecMainStartTimestampMonotonic)
        exit_=$(unit_prop kesgate-watch.service ExecMainExitTimestampMonotonic)
        state=$(unit_prop kesgate-watch.service ActiveState)
        if [ "$start" -gt "$1" ] && [ "$exit_" -ge "$start" ] && [ "$state" != activating ]; then
            [ "$(unit_prop kesgate-watch.service ExecMainStatus)" = 0 ] \
                || die "the round failed: $(ct journalctl -u kesgate-watch.service -n 20 --no-pager)"
            return
        fi
        sleep 0.05
    done
    die "no round of kesgate-watch.service after $1"
}
# journal_lines CURSOR: every journal line about kesgate-watch.service, the
# unit that runs each round, since CURSOR: kesgate's and systemd's (UNIT=).
# (The timer's own start and stop are logged once, as for any unit.)
journal_lines() {
    ct journalctl --sync
    ct journalctl --cursor "$1" -u kesgate-watch.service -o json --no-pager \
        | python3 -c 'import json,sys; [print(json.loads(l).get("MESSAGE")) for l in sys.stdin]' \
        | grep -v '^-- ' || true
}
rounds() { local i; for i in $(seq 1 "$1"); do round_after "$(monotonic_us)"; done; }

log "unconfigured: rounds run, silent (no line from kesgate or systemd), no metrics file"
rounds 3
[ -z "$(journal_lines "$c_rounds")" ] || die "an unconfigured watch logged: $(journal_lines "$c_rounds")"
! ct test -e /var/lib/prometheus/node-exporter/kesgate.prom || die "a metrics file without a configuration"

log "configured (with [vault]): node_exporter serves the metrics with the right values"
kesgate_config "$MINIO_PORT"
set_wait_timeout 30s
ct systemctl enable --now minio.service >/dev/null 2>&1 || die "minio did not start"
wait_for_prop kesgate-buckets.service ActiveState '^active$' >/dev/null
rounds 1
c_quiet=$(synced_cursor)
rounds 3
f=/var/lib/prometheus/node-exporter/kesgate.prom
[ "$(ct stat -c '%U %a %F' "$f")" = "root 644 regular file" ] || die "metrics file: $(ct stat -c '%U %a %F' "$f")"
scrape
want() { grep -qxF "$1" "$work/scrape.txt" || die "node_exporter does not serve '$1': $(grep kesgate_ "$work/scrape.txt")"; }
want "kesgate_kes_ready{endpoint=\"https://localhost:$KES_PORT\"} 1"
want "kesgate_kes_key_store_ready{endpoint=\"https://localhost:$KES_PORT\"} 1"
want "kesgate_vault_sealed{address=\"$BAO_ADDR\"} 0"
want "kesgate_env_matches 1"
want "kesgate_keys_missing 0"
want "kesgate_problems 0"
want "node_textfile_scrape_error 0"
grep -q "^kesgate_build_info{version=\"" "$work/scrape.txt" || die "no build info served"
grep -q "^kesgate_minio_env_info{fingerprint=\"[0-9a-f]\{32\}\"} 1" "$work/scrape.txt" || die "no fleet fingerprint served"
grep -q "^kesgate_kes_round_trip_seconds{endpoint=\"https://localhost:$KES_PORT\"} " "$work/scrape.txt" || die "no round trip served"
grep -q "^node_textfile_mtime_seconds{file=\"$f\"} " "$work/scrape.txt" \
    || grep -q '^node_textfile_mtime_seconds{file="kesgate.prom"} ' "$work/scrape.txt" || die "node_exporter does not see the file's mtime"
! grep -aqF "${API_KEY#kes:v1:}" "$work/scrape.txt" || die "the metrics carry the API key"
grep '^kesgate_' "$work/scrape.txt" | sed 's/^/   /' | head -20
[ -z "$(journal_lines "$c_quiet")" ] || die "a quiet configured host logged: $(journal_lines "$c_quiet")"

log "seal the Vault: exactly one entry; the first round after it shows kesgate_vault_sealed 1"
c_seal=$(synced_cursor)
seal_openbao
# A round that starts after the seal has finished must show it.
t_seal=$(monotonic_us)
round_after "$t_seal"
scrape
want "kesgate_vault_sealed{address=\"$BAO_ADDR\"} 1"
want "kesgate_kes_key_store_ready{endpoint=\"https://localhost:$KES_PORT\"} 0"
rounds 2
lines=$(journal_lines "$c_seal")
[ "$(printf '%s\n' "$lines" | grep -c .)" = 1 ] || die "sealing should be one entry, not: $lines"
[ "$(count_entries "$c_seal" kesgate-watch.service "$ID_WATCH_VAULT")" = 1 ] || die "no Vault entry: $lines"
echo "   $lines"
ct journalctl -x --no-pager -u kesgate-watch.service --cursor "$c_seal" >"$work/seal-x.txt"
grep -q "enter the unseal keys" "$work/seal-x.txt" || die "no catalog text for the Vault entry"

log "unseal: one entry back; KES's return after its health check is not told again"
c_unseal=$(synced_cursor)
t_unseal=$(monotonic_us)
unseal_openbao
round_after "$t_unseal"
for i in $(seq 1 40); do
    rounds 1
    scrape
    grep -qxF "kesgate_kes_ready{endpoint=\"https://localhost:$KES_PORT\"} 1" "$work/scrape.txt" && break
done
want "kesgate_kes_ready{endpoint=\"https://localhost:$KES_PORT\"} 1"
want "kesgate_vault_sealed{address=\"$BAO_ADDR\"} 0"
rounds 2
lines=$(journal_lines "$c_unseal")
[ "$(printf '%s\n' "$lines" | grep -c .)" = 1 ] || die "unsealing should be one entry, not: $lines"
[ "$(ct journalctl --cursor "$c_unseal" _SYSTEMD_UNIT=kesgate-watch.service MESSAGE_ID=$ID_WATCH_VAULT KESGATE_STATE=ok -o json --no-pager | wc -l)" = 1 ] \
    || die "the entry is not the Vault's return: $lines"
echo "   $lines"

log "KES's server certificate now expires in 10 days: told once; status 2, --nagios 1, the metric its NotAfter"
mkdir -p "$CT_ROOT/etc/systemd/system/kes.service.d"
exec_start=$(sed -n 's/^ExecStart=//p' "$CT_ROOT/etc/systemd/system/kes.service")
printf '[Service]\nExecStart=\nExecStart=%s --cert-days 10\n' "$exec_start" \
    >"$CT_ROOT/etc/systemd/system/kes.service.d/zz-short-cert.conf"
ct systemctl daemon-reload
c_cert=$(synced_cursor)
ct systemctl restart kes.service
wait_for_kes_listening
# The certificate the restarted KES presents (the test server writes it).
not_after=$(openssl x509 -noout -enddate -in "$CT_ROOT/etc/kes/tls/server.pem" | sed 's/^notAfter=//')
not_after=$(date -d "$not_after" +%s)
# served_not_after: the server certificate's metric as node_exporter serves
# it (a float, e.g. 1.796e+09), as whole seconds; empty when not served.
served_not_after() {
    local line
    line=$(grep "^kesgate_certificate_not_after_timestamp_seconds{endpoint=\"https://localhost:$KES_PORT\",role=\"server\"" "$work/scrape.txt") || return 0
    python3 -c 'import sys; print(int(float(sys.argv[1])))' "${line##* }"
}
# KES is down for a round or two while it restarts.
for i in $(seq 1 40); do
    rounds 1
    scrape
    [ "$(served_not_after)" = "$not_after" ] && break
done
[ "$(served_not_after)" = "$not_after" ] \
    || die "the metric is not the certificate's NotAfter ($not_after): $(grep kesgate_cert "$work/scrape.txt")"
want "kesgate_warnings 1"
rounds 2
[ "$(count_entries "$c_cert" kesgate-watch.service "$ID_WATCH_CERT")" = 1 ] \
    || die "the expiring certificate should be told once: $(journal_lines "$c_cert")"
ct journalctl --sync
ct journalctl --cursor "$c_cert" _SYSTEMD_UNIT=kesgate-watch.service MESSAGE_ID=$ID_WATCH_CERT -o cat --no-pager | sed 's/^/   /'
rc=0; ct kesgate status >"$work/status.txt" 2>&1 || rc=$?
[ "$rc" = 2 ] || die "status exited $rc, not 2 (a warning): $(cat "$work/status.txt")"
rc=0; ct kesgate status --nagios >"$work/nagios.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q '^KESGATE WARNING - ' "$work/nagios.txt" || die "--nagios exited $rc: $(cat "$work/nagios.txt")"

log "remove the package: the timer stops, the metrics file goes, node_exporter's directory stays"
ct dpkg -r kesgate >"$work/dpkg-r.log" 2>&1 || die "dpkg -r: $(cat "$work/dpkg-r.log")"
! ct test -e "$f" || die "dpkg -r left the metrics file (node_exporter serves stale values)"
ct test -d /var/lib/prometheus/node-exporter || die "dpkg -r removed node_exporter's directory"
[ "$(unit_prop kesgate-watch.timer ActiveState)" != active ] || die "the timer still runs"
scrape
! grep -q '^kesgate_' "$work/scrape.txt" || die "node_exporter still serves kesgate's metrics"

echo "watch: all checks passed"
