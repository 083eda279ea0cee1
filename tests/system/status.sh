#!/usr/bin/env bash
# `kesgate status` and the kes.service watch under a real systemd 252 (issue
# 6): the verdict and JSON for a healthy chain, KES down, the key store
# sealed, the env file drifted, a bucket unencrypted, minio.service failed,
# as a non-root user; the wait reacting to kes.service starting, failing and
# stopping over D-Bus.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
harness_init

chain_setup
build_deb

chain_host
cp "$DEB" "$CT_ROOT/root/kesgate.deb"
ct dpkg -i /root/kesgate.deb >"$work/dpkg.log" 2>&1 || die "dpkg -i: $(cat "$work/dpkg.log")"
kesgate_config "$MINIO_PORT"
set_wait_timeout 30s
ct systemctl enable --now minio.service >/dev/null 2>&1 || die "minio did not start"
wait_for_prop kesgate-buckets.service ActiveState '^active$' >/dev/null

# status_is EXIT VERDICT [PATTERN]: `kesgate status` exits EXIT, its verdict
# line starts with VERDICT and (unwrapped: COLUMNS) a line matches PATTERN;
# the JSON goes to $work/status.json.
status_is() {
    local rc=0
    ct env COLUMNS=1000 kesgate status >"$work/status.txt" 2>&1 || rc=$?
    [ "$rc" = "$1" ] || die "kesgate status exited $rc, expected $1: $(cat "$work/status.txt")"
    grep -Eq "^kesgate status: $2" "$work/status.txt" || die "verdict not /$2/: $(cat "$work/status.txt")"
    [ -z "${3:-}" ] || grep -Eq -- "$3" "$work/status.txt" || die "no line /$3/: $(cat "$work/status.txt")"
    rc=0
    ct kesgate status --json >"$work/status.json" 2>"$work/status.err" || rc=$?
    [ "$rc" = "$1" ] || die "kesgate status --json exited $rc, expected $1"
}
# jq_py EXPR: evaluates a Python expression over the JSON report `r`.
jq_py() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($1)" "$work/status.json"; }

log "healthy: OK, exit 0; the JSON names every link"
status_is 0 "OK"
sed 's/^/   /' "$work/status.txt"
[ "$(wc -l <"$work/status.txt")" -le 30 ] || die "the human view does not fit one screen"
[ "$(jq_py 'r["ok"]')" = True ] || die "json ok"
[ "$(jq_py '[u["active_state"] for u in r["units"] if u["name"]=="kes.service"][0]')" = active ] || die "kes.service not shown"
[ "$(jq_py 'any(d.endswith("minio.service.d/kesgate.conf") for u in r["units"] if u["name"]=="minio.service" for d in u["drop_ins"])')" = True ] \
    || die "the drop-in is not shown in effect"
[ "$(jq_py 'r["kes"][0]["round_trip"]')" = ok ] || die "round trip not shown"
[ "$(jq_py 'r["kes"][0]["api"]')" = "2024+" ] || die "API generation not shown"
[ "$(jq_py 'r["identity"]')" = "$IDENTITY" ] || die "identity not shown"
[ "$(jq_py 'all(k["present"] for k in r["keys"])')" = True ] || die "keys not shown present"
[ "$(jq_py 'r["buckets"][0]["ok"]')" = True ] || die "bucket not shown encrypted"
[ "$(jq_py 'r["env_file"]["mode"]')" = 0600 ] || die "env file mode not shown"
! grep -aqF "${API_KEY#kes:v1:}" "$work/status.txt" "$work/status.json" || die "status shows the API key"

log "as a non-root user: what it can see, and what it could not"
status_nobody() { ct setpriv --reuid=nobody --regid=nogroup --clear-groups kesgate status "$@"; }
rc=0; status_nobody >"$work/status-nobody.txt" 2>&1 || rc=$?
[ "$rc" = 3 ] || die "non-root status exited $rc, expected 3: $(cat "$work/status-nobody.txt")"
grep -q 'minio.service' "$work/status-nobody.txt" || die "non-root status shows no units"
grep -q 'run as root' "$work/status-nobody.txt" || die "non-root status does not say what it could not see"

log "the env file drifted"
cp "$CT_ROOT/etc/default/minio" "$work/minio.good"
sed -i 's/^MINIO_KMS_KES_KEY_NAME=.*/MINIO_KMS_KES_KEY_NAME=other-key/' "$CT_ROOT/etc/default/minio"
status_is 1 "NOT OK: 1 problem" "/etc/default/minio no longer matches kesgate's configuration: MINIO_KMS_KES_KEY_NAME$"
[ "$(jq_py 'r["env_file"]["matches"]')" = False ] || die "json env_file.matches"
cp -p "$work/minio.good" "$CT_ROOT/etc/default/minio"
status_is 0 "OK"

log "a bucket lost its encryption"
python3 - "$MINIO_PORT" "$MINIO_PASSWORD" <<'PY'
import sys, boto3
boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
             aws_access_key_id="minio-admin", aws_secret_access_key=sys.argv[2]).delete_bucket_encryption(Bucket="encrypted")
PY
status_is 1 "NOT OK: 1 problem" "^  - bucket encrypted: none"
[ "$(jq_py 'r["buckets"][0]["encryption"]')" = none ] || die "json bucket encryption"
ct kesgate buckets >/dev/null 2>&1
status_is 0 "OK"

log "the key store is sealed"
seal_openbao
status_is 1 "NOT OK: 1 problem" "^  https://localhost:$KES_PORT  key store unreachable"
[ "$(jq_py 'r["kes"][0]["ready"]')" = False ] || die "json kes ready"
[ "$(jq_py 'r["vault"]["sealed"], r["vault"]["threshold"], r["vault"]["progress"]')" = "True 1 0" ] || die "json vault: $(jq_py 'r["vault"]')"
grep -q "^vault: Vault $BAO_ADDR is sealed: 0 of 1 unseal keys entered" "$work/status.txt" || die "no vault line: $(cat "$work/status.txt")"
unseal_openbao
# KES 2024+ notices at its next key-store ping (up to 10 s): status says
# the Vault is fine meanwhile, then OK.
for i in $(seq 1 40); do
    rc=0; ct kesgate status --json >"$work/status.json" 2>/dev/null || rc=$?
    [ "$rc" = 0 ] && break
    [ "$(jq_py 'r["vault"]["sealed"]')" = False ] || die "vault still sealed after the unseal"
    sleep 0.5
done
status_is 0 "OK"

log "minio.service failed"
mkdir -p "$CT_ROOT/etc/systemd/system/minio.service.d"
printf '[Service]\nExecStartPre=/bin/false\n' >"$CT_ROOT/etc/systemd/system/minio.service.d/zz-broken.conf"
ct systemctl daemon-reload
ct systemctl restart --no-block minio.service
wait_for_prop minio.service ActiveState '^failed$' >/dev/null
status_is 1 "NOT OK: [0-9]+ problems?" "^  - minio.service is failed/failed, result exit-code"
grep -q "^    fix: .*journalctl -u minio.service" "$work/status.txt" || die "no fix for the failed unit: $(cat "$work/status.txt")"
rm "$CT_ROOT/etc/systemd/system/minio.service.d/zz-broken.conf"
ct systemctl daemon-reload
ct systemctl reset-failed minio.service
ct systemctl start minio.service

log "KES is down"
ct systemctl stop kes.service
status_is 1 "NOT OK: [0-9]+ problems" "^  - kes.service is inactive/dead"
grep -q "KES https://localhost:$KES_PORT: not reachable" "$work/status.txt" || die "status does not say KES is unreachable"
ct systemctl start kes.service
wait_for_kes_listening

log "the wait watches kes.service: failure, stop, start"
# max_interval 1h: the polling path would not probe again for many minutes,
# so a prompt ready proves the D-Bus watch woke the wait.
sed -e 's/^max_interval = .*/max_interval = "1h"/' -e 's/^timeout = .*/timeout = "0"/' \
    "$CT_ROOT/etc/kesgate/kesgate.toml" >"$CT_ROOT/etc/kesgate/watch.toml"
mkdir -p "$CT_ROOT/etc/systemd/system/kes.service.d"
printf '[Service]\nExecStart=\nExecStart=/bin/false\nRestart=no\n' >"$CT_ROOT/etc/systemd/system/kes.service.d/zz-broken.conf"
ct systemctl daemon-reload
ct systemctl stop kes.service
ct systemctl start kes.service >/dev/null 2>&1 || true
wait_for_prop kes.service ActiveState '^failed$' >/dev/null
c_watch=$(cursor)
ct systemd-run --unit=kgwait --no-block -p Type=notify -p NotifyAccess=main -p RemainAfterExit=yes \
    /usr/bin/kesgate --config /etc/kesgate/watch.toml wait >/dev/null 2>&1
wait_for_prop kgwait.service StatusText '^kes.service failed: exit-code; ' >/dev/null
echo "   kgwait.service: $(unit_prop kgwait.service StatusText)"
ct systemctl reset-failed kes.service
wait_for_prop kgwait.service StatusText '^kes.service is stopped and nothing starts it; ' >/dev/null
echo "   kgwait.service: $(unit_prop kgwait.service StatusText)"
rm "$CT_ROOT/etc/systemd/system/kes.service.d/zz-broken.conf"
ct systemctl daemon-reload
ct systemctl start kes.service
wait_for_prop kgwait.service ActiveState '^active$' >/dev/null
ct journalctl --cursor "$c_watch" _SYSTEMD_UNIT=kgwait.service -o json --no-pager >"$work/watch.json"
python3 - "$work/watch.json" <<'PY' || die "the watch's journal entries are not as expected"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
unit = [e.get("KESGATE_UNIT_STATE") for e in entries if e.get("MESSAGE_ID") == "aa8945659a90473aa4e6afe66880ddf9"]
# The failure and the stop, each told once, and ready at the end. On its
# way up systemd may or may not show kes.service "activating" (and, before
# the start job is visible, "inactive" again): property changes are
# coalesced per loop iteration, so the transitions seen vary; each one seen
# is told once, never one per attempt.
assert unit[:2] == ["failed:exit-code", "stopped"] and unit[-1] == "active", unit
assert all(s in ("starting", "stopped") for s in unit[2:-1]), unit
assert all(a != b for a, b in zip(unit, unit[1:])), unit
ready = [e for e in entries if e.get("MESSAGE_ID") == "8f0d89a983d443ceb1ea0f826d7aa62c"]
assert len(ready) == 1 and "KESGATE_SINCE_UNIT_ACTIVE_MS" in ready[0], ready
print("   unit states told once each:", unit, "- ready", ready[0]["KESGATE_SINCE_UNIT_ACTIVE_MS"], "ms after kes.service became active")
PY
ct journalctl -x --no-pager -u kgwait.service >"$work/watch-x.txt"
grep -q "kesgate watches the KES unit" "$work/watch-x.txt" || die "no catalog text for the unit watch"

echo "status: all checks passed"
