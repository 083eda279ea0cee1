#!/usr/bin/env bash
# System test: units/kesgate.service (`kesgate start`) under a real systemd
# (nspawn), KES test server on the host backed by a real OpenBao that starts
# sealed. Proves STATUS=, EXTEND_TIMEOUT_USEC, READY=1, the default key in
# OpenBao, the rendered env file, exit codes, journal fields and MESSAGE_IDs,
# and that the API key never reaches the journal.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

. "$here/lib.sh"

harness_init

API_KEY=$("$BIN" identity new | sed -n 2p)
IDENTITY=$(printf '%s' "$API_KEY" | "$BIN" identity of - | tail -n1)

log "OpenBao and the KES test server on the host; then OpenBao is sealed"
start_openbao "$work" "$(free_port)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BAO_ADDR/v1/sys/health")" = 503 ] || die "OpenBao should start sealed"
# KES exits when its Vault is sealed at its start (as real KES does): start
# it unsealed, then seal, so that it runs and answers 504.
unseal_openbao
KES_PORT=$(free_port)
start_kes kes "$KES_PORT" "$IDENTITY"
seal_openbao

log "booting systemd in a container"
boot_container "$work"
install_kesgate "$work/kes/ca.pem"
write_config "$KES_PORT"
# A start timeout far shorter than the wait: only EXTEND_TIMEOUT_USEC keeps it alive.
mkdir -p "$CT_ROOT/etc/systemd/system/kesgate.service.d"
printf '[Service]\nTimeoutStartSec=2s\n' >"$CT_ROOT/etc/systemd/system/kesgate.service.d/short-timeout.conf"
ct systemctl daemon-reload

log "systemd-analyze: the unit verifies cleanly and scores <= 2.0"
ct systemd-analyze verify --man=no /etc/systemd/system/kesgate.service 2>"$work/verify.err" \
    || die "systemd-analyze verify failed: $(cat "$work/verify.err")"
[ ! -s "$work/verify.err" ] || die "systemd-analyze verify complained: $(cat "$work/verify.err")"
ct systemd-analyze security --offline=true --threshold=20 /etc/systemd/system/kesgate.service >"$work/security.txt" \
    || die "exposure above 2.0: $(tail -n1 "$work/security.txt")"
echo "  $(tail -n1 "$work/security.txt")"

log "starting kesgate.service while OpenBao is sealed"
ct systemctl start --no-block kesgate.service
status=$(wait_for_prop kesgate.service StatusText 'key store unreachable \(sealed\?\)')
echo "  StatusText: $status"
[ "$(unit_prop kesgate.service ActiveState)" = activating ] || die "kesgate should be activating"
# Attempt 12 comes at least 2.6 s after the start (the first 11 waits are at
# least 50+100+200+9*250 ms): past TimeoutStartSec=2s, so only
# EXTEND_TIMEOUT_USEC can have kept the unit alive.
wait_for_prop kesgate.service StatusText 'attempt (1[2-9]|[2-9][0-9]),' >/dev/null
[ "$(unit_prop kesgate.service ActiveState)" = activating ] || die "start timeout was not extended: $(unit_prop kesgate.service Result)"
ct systemctl status --no-pager kesgate.service | sed 's/^/  | /' || true

log "unsealing OpenBao"
unseal_openbao
wait_for_prop kesgate.service ActiveState '^active$' >/dev/null
[ "$(unit_prop kesgate.service Result)" = success ] || die "Result should be success"
[[ $(unit_prop kesgate.service StatusText) == "KES ready (https://localhost:$KES_PORT); key minio-backend-default-key present and works; /etc/default/minio updated" ]] \
    || die "final STATUS: $(unit_prop kesgate.service StatusText)"
bao_key_exists minio-backend-default-key || die "the default key is not in OpenBao"
[ "$(stat -c %a "$CT_ROOT/etc/default/minio")" = 600 ] || die "/etc/default/minio should be 0600"
grep -qx "MINIO_KMS_KES_API_KEY=\"$API_KEY\"" "$CT_ROOT/etc/default/minio" || die "API key not rendered"
grep -qx 'MINIO_VOLUMES="/var/lib/minio"' "$CT_ROOT/etc/default/minio" || die "operator line lost"
ct systemctl status --no-pager kesgate.service | sed 's/^/  | /' || true

log "journal: fields, MESSAGE_IDs, one entry per state change"
ct journalctl -u kesgate.service -o json --no-pager >"$work/journal-unit.json"
python3 - "$work/journal-unit.json" "https://localhost:$KES_PORT" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ours = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "kesgate"]
not_ready = [e for e in ours if e.get("MESSAGE_ID") == "23c27382dbae471291e0a4c2b4c1e9a4"]
ready = [e for e in ours if e.get("MESSAGE_ID") == "8f0d89a983d443ceb1ea0f826d7aa62c"]
assert len(not_ready) == 1, f"one not-ready entry per state change, got {len(not_ready)}"
e = not_ready[0]
assert e["KESGATE_ERROR_KIND"] == "keystore_unreachable", e
assert e["KESGATE_ENDPOINT"] == sys.argv[2], e
assert e["PRIORITY"] == "4", e
assert len(ready) == 1 and ready[0]["KESGATE_ENDPOINT"] == sys.argv[2], ready
assert int(ready[0]["KESGATE_ATTEMPT"]) >= 12, ready
changed = [e for e in ours if e.get("MESSAGE_ID") == "4eda8be2440c490194d2349d2f1f173d"]
assert len(changed) == 1 and "MINIO_KMS_KES_API_KEY" in changed[0]["KESGATE_CHANGED"].split(), changed
assert changed[0]["KESGATE_ENV_FILE"] == "/etc/default/minio", changed
created = [e for e in ours if e.get("MESSAGE_ID") == "e42f27573bcd47938ac5591b166a3bea"]
assert len(created) == 1 and created[0]["KESGATE_KEY"] == "minio-backend-default-key", created
print(f"  {len(ours)} kesgate entries; not-ready and ready entries carry their fields")
PY

log "a permanent error: identity refused by policy"
OTHER_PORT=$(free_port)
start_kes kes-other "$OTHER_PORT" "$(printf '0%.0s' $(seq 64))"
install -m 644 "$work/kes-other/ca.pem" "$CT_ROOT/etc/kesgate/kes-ca.pem"
write_config "$OTHER_PORT"
ct systemctl restart kesgate.service && die "kesgate should fail on a 403"
[ "$(unit_prop kesgate.service ExecMainStatus)" = 77 ] || die "exit status should be 77 (EX_NOPERM)"
[ "$(unit_prop kesgate.service ActiveState)" = failed ] || die "kesgate should be failed"
[[ $(unit_prop kesgate.service StatusText) == *"refused identity $IDENTITY"* ]] || die "STATUS should name the identity"
ct journalctl -u kesgate.service -o json --no-pager >"$work/journal-unit.json"
grep -q '"MESSAGE_ID":"ee8891ccb1a7414b8fee2c21e78ce9fc"' "$work/journal-unit.json" || die "no identity-rejected MESSAGE_ID"
ct journalctl -x -u kesgate.service --no-pager >"$work/journal-x.txt"
grep -q "Subject: KES refused kesgate's identity" "$work/journal-x.txt" \
    || die "journalctl -x does not show the catalog text"
ct systemctl status --no-pager kesgate.service | sed 's/^/  | /' || true

log "no secret anywhere in the journal"
ct journalctl -o json --no-pager >"$work/journal-all.json"
secret=${API_KEY#kes:v1:}
if grep -qF "$secret" "$work/journal-all.json" || grep -qF "${secret:0:16}" "$work/journal-all.json"; then
    die "the API key reached the journal"
fi
echo "system-test: 1 passed, 0 failed"
