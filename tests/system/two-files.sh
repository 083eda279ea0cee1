#!/usr/bin/env bash
# Upstream's two-file layout under a real systemd 252 (issue 13):
# /etc/default/minio holds MINIO_VOLUMES, MINIO_OPTS and
# MINIO_CONFIG_ENV_FILE=/etc/minio/config.env; config.env (minio-user, 0600)
# holds the root credentials and hand-pasted KES lines with certificate
# auth and an old endpoint. MinIO (the stand-in applies MINIO_CONFIG_ENV_FILE
# as MinIO does) must end up with the configured KES values; both files keep
# the operator's lines byte for byte. Then a host without [[buckets]].
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
harness_init

chain_setup
build_deb
boot_container "$work"
kes_unit "$KES_PORT" "$IDENTITY"
minio_unit "$MINIO_PORT"
log "upstream's two-file layout with stale KES lines in config.env"
cat >"$CT_ROOT/etc/default/minio" <<ENV
# Volume to be used for MinIO server.
MINIO_VOLUMES="/var/lib/minio"
MINIO_OPTS="--address :$MINIO_PORT --console-address :9001"
MINIO_CONFIG_ENV_FILE=/etc/minio/config.env
ENV
install -d -m 755 "$CT_ROOT/etc/minio"
cat >"$CT_ROOT/etc/minio/config.env" <<ENV
# MinIO's own settings (the operator's)
MINIO_ROOT_USER=minio-admin
MINIO_ROOT_PASSWORD='$MINIO_PASSWORD'
export MINIO_BROWSER=on

# KES, pasted by hand from an old runbook
MINIO_KMS_KES_ENDPOINT=https://old-kes.example.net:7373
MINIO_KMS_KES_CERT_FILE=/etc/minio/kes-client.crt
MINIO_KMS_KES_KEY_FILE=/etc/minio/kes-client.key
MINIO_KMS_KES_KEY_NAME=old-key
ENV
ct chown minio-user:minio-user /etc/minio/config.env
chmod 600 "$CT_ROOT/etc/minio/config.env"
cp "$CT_ROOT/etc/default/minio" "$work/default-before"
cp "$CT_ROOT/etc/minio/config.env" "$work/config-before"
ct systemctl daemon-reload
ct systemctl enable --now kes.service >/dev/null 2>&1
wait_for_kes_listening
# A backup an older kesgate left world-readable with a live API key.
printf 'MINIO_KMS_KES_API_KEY=kes:v1:old-key-from-an-older-kesgate\n' >"$CT_ROOT/etc/default/minio.kesgate-prev"
chmod 644 "$CT_ROOT/etc/default/minio.kesgate-prev"
cp "$DEB" "$CT_ROOT/root/kesgate.deb"
ct dpkg -i /root/kesgate.deb >"$work/dpkg.log" 2>&1 || die "dpkg -i: $(cat "$work/dpkg.log")"
[ "$(stat -c %a "$CT_ROOT/etc/default/minio.kesgate-prev")" = 600 ] || die "the old backup is still $(stat -c %a "$CT_ROOT/etc/default/minio.kesgate-prev")"
grep -q "rotate the API key" "$work/dpkg.log" || die "postinst did not say to rotate the key: $(cat "$work/dpkg.log")"
echo "   postinst: the old 0644 backup holding an API key is 0600 now, and said to rotate the key"
kesgate_config "$MINIO_PORT"

rc=0; ct kesgate render --check >"$work/check-before.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] || die "render --check before should be 1, was $rc: $(cat "$work/check-before.txt")"
grep -q "MINIO_CONFIG_ENV_FILE=/etc/minio/config.env" "$work/check-before.txt" || die "check does not name config.env: $(cat "$work/check-before.txt")"
sed 's/^/   /' "$work/check-before.txt"

log "the boot chain: kesgate.service, then minio.service (its preflight renders config.env)"
ct systemctl enable --now minio.service >/dev/null 2>&1 || die "minio did not start: $(ct journalctl -u minio -n 30 --no-pager)"
wait_for_prop minio.service ActiveState '^active$' >/dev/null
[ "$(main_env MINIO_KMS_KES_ENDPOINT)" = "https://localhost:$KES_PORT" ] || die "MinIO runs with endpoint '$(main_env MINIO_KMS_KES_ENDPOINT)'"
[ "$(main_env MINIO_KMS_KES_API_KEY)" = "$API_KEY" ] || die "MinIO runs without the API key"
[ "$(main_env MINIO_KMS_KES_KEY_NAME)" = minio-backend-default-key ] || die "MinIO runs with key name '$(main_env MINIO_KMS_KES_KEY_NAME)'"
for v in MINIO_KMS_KES_CERT_FILE MINIO_KMS_KES_KEY_FILE; do
    ! ct cat "/proc/$(unit_prop minio.service MainPID)/environ" | tr '\0' '\n' | grep -q "^$v=" || die "MinIO still has $v"
done
[ "$(main_env MINIO_ROOT_PASSWORD)" = "$MINIO_PASSWORD" ] || die "the operator's root password changed"
echo "   MinIO's /proc/PID/environ: the configured KES values, no certificate variables"

# The operator's bytes stay as they were; only [env_file.set] is appended
# (ExecStart= expands $MINIO_OPTS from systemd's file, so it stays there).
head -c "$(stat -c %s "$work/default-before")" "$CT_ROOT/etc/default/minio" | cmp -s - "$work/default-before" \
    || die "/etc/default/minio: the operator's lines changed: $(diff "$work/default-before" "$CT_ROOT/etc/default/minio")"
! grep -q '^MINIO_KMS_' "$CT_ROOT/etc/default/minio" || die "KES variables in systemd's file: $(cat "$CT_ROOT/etc/default/minio")"
grep -q '^KESGATE_TEST_UNICODE=' "$CT_ROOT/etc/default/minio" || die "[env_file.set] not in systemd's file"
for line in "# MinIO's own settings (the operator's)" "MINIO_ROOT_USER=minio-admin" "MINIO_ROOT_PASSWORD='$MINIO_PASSWORD'" "export MINIO_BROWSER=on" "# KES, pasted by hand from an old runbook"; do
    grep -qxF "$line" "$CT_ROOT/etc/minio/config.env" || die "operator line lost from config.env: $line"
done
[ "$(ct stat -c '%U %a' /etc/minio/config.env)" = "minio-user 600" ] || die "config.env owner/mode: $(ct stat -c '%U %a' /etc/minio/config.env)"
cmp -s "$work/config-before" "$CT_ROOT/etc/minio/config.env.kesgate-prev" || die "config.env.kesgate-prev is not the old content"
ct kesgate render --check >"$work/check-after.txt" 2>&1 || die "render --check after: $(cat "$work/check-after.txt")"
echo "   render --check: 1 before, 0 after; both files keep the operator's lines"

log "kesgate.service may not write config.env (no CAP_CHOWN) and MinIO would start without the preflight: no READY=1"
mkdir -p "$CT_ROOT/etc/systemd/system/minio.service.d"
ln -sf /dev/null "$CT_ROOT/etc/systemd/system/minio.service.d/kesgate.conf"
ct systemctl daemon-reload
sed -i 's|^MINIO_KMS_KES_KEY_NAME=.*|MINIO_KMS_KES_KEY_NAME="stale"|' "$CT_ROOT/etc/minio/config.env"
c=$(cursor)
rc=0; ct systemctl restart kesgate.service >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || die "kesgate.service started (READY=1) while MinIO would start on a stale config.env"
ct journalctl --no-pager -o cat --after-cursor="$c" -u kesgate.service >"$work/nopreflight.log"
grep -q "does not run kesgate's preflight" "$work/nopreflight.log" || die "no reason given: $(cat "$work/nopreflight.log")"
rm -f "$CT_ROOT/etc/systemd/system/minio.service.d/kesgate.conf"
ct systemctl daemon-reload
ct systemctl restart kesgate.service || die "kesgate.service with the drop-in back: $(ct journalctl -u kesgate -n 20 --no-pager)"
grep -q '^MINIO_KMS_KES_KEY_NAME="stale"' "$CT_ROOT/etc/minio/config.env" || die "kesgate.service wrote config.env after all"
ct systemctl restart minio.service
wait_for_prop minio.service ActiveState '^active$' >/dev/null
[ "$(main_env MINIO_KMS_KES_KEY_NAME)" = minio-backend-default-key ] || die "the preflight did not render: $(main_env MINIO_KMS_KES_KEY_NAME)"
echo "   masked drop-in: kesgate.service failed, no READY=1; drop-in back: READY=1, the preflight rendered before MinIO started"

log "status names the file MinIO reads the KES variables from"
ct kesgate status --json >"$work/status.json" 2>/dev/null || true
python3 - "$work/status.json" <<'PY' || die "status: $(cat "$work/status.json")"
import json, sys
r = json.load(open(sys.argv[1]))
e = r["env_file"]
assert e["path"] == "/etc/minio/config.env" and e["read_by"].startswith("MinIO (MINIO_CONFIG_ENV_FILE"), e
assert e["matches"], e
PY

log "a host without [[buckets]]: kesgate-buckets.service is done at once; status OK"
python3 - "$CT_ROOT/etc/kesgate/kesgate.toml" <<'PY'
import re, sys
p = sys.argv[1]
t = open(p).read()
open(p, "w").write(re.sub(r"\n\[\[buckets\]\]\n(?:[^\[\n][^\n]*\n)*", "\n", t))
PY
grep -q '^\[\[buckets\]\]' "$CT_ROOT/etc/kesgate/kesgate.toml" && die "[[buckets]] still configured"
ct systemctl stop minio.service
c=$(cursor)
ct systemctl restart kesgate-buckets.service
[ "$(unit_prop kesgate-buckets.service ActiveState)/$(unit_prop kesgate-buckets.service SubState)" = active/exited ] \
    || die "kesgate-buckets.service: $(unit_prop kesgate-buckets.service ActiveState)"
[[ $(unit_prop kesgate-buckets.service StatusText) == "no buckets configured" ]] || die "STATUS: $(unit_prop kesgate-buckets.service StatusText)"
ct systemctl start minio.service
wait_for_prop minio.service ActiveState '^active$' >/dev/null
rc=0; ct kesgate status >"$work/status.txt" 2>&1 || rc=$?
[ "$rc" = 0 ] || die "status exit $rc on a bucket-less host: $(cat "$work/status.txt")"
echo "   kesgate-buckets.service active (exited): \"no buckets configured\"; status exit 0"

log "NotifyAccess=all in minio.service's own files is named"
mkdir -p "$CT_ROOT/etc/systemd/system/minio.service.d"
printf '[Service]\nNotifyAccess=all\n' >"$CT_ROOT/etc/systemd/system/minio.service.d/10-wrapper.conf"
ct systemctl daemon-reload
rc=0; ct kesgate status >"$work/status.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "10-wrapper.conf sets NotifyAccess=all" "$work/status.txt" || die "no NotifyAccess warning (exit $rc): $(cat "$work/status.txt")"
log "a relative MINIO_CONFIG_ENV_FILE is where MinIO opens it: from WorkingDirectory=/usr/local"
rm -f "$CT_ROOT/etc/systemd/system/minio.service.d/10-wrapper.conf"
printf '[Service]\nWorkingDirectory=/usr/local\n' >"$CT_ROOT/etc/systemd/system/minio.service.d/20-workdir.conf"
install -d -m 755 "$CT_ROOT/usr/local/etc"
ct chown minio-user:minio-user /usr/local/etc
sed -i 's|^MINIO_CONFIG_ENV_FILE=.*|MINIO_CONFIG_ENV_FILE=etc/minio.env|' "$CT_ROOT/etc/default/minio"
ct systemctl daemon-reload
ct systemctl restart minio.service || die "minio did not restart: $(ct journalctl -u minio -n 30 --no-pager)"
wait_for_prop minio.service ActiveState '^active$' >/dev/null
[ -f "$CT_ROOT/usr/local/etc/minio.env" ] || die "nothing at /usr/local/etc/minio.env"
[ ! -e "$CT_ROOT/etc/minio.env" ] || die "kesgate wrote /etc/minio.env, which MinIO never reads"
[ "$(main_env MINIO_KMS_KES_API_KEY)" = "$API_KEY" ] || die "MinIO (cwd /usr/local) runs without the API key"
[ "$(ct stat -c '%U %a' /usr/local/etc/minio.env)" = "minio-user 600" ] || die "minio.env owner/mode: $(ct stat -c '%U %a' /usr/local/etc/minio.env)"
ct kesgate render --check >"$work/check-rel.txt" 2>&1 || die "render --check: $(cat "$work/check-rel.txt")"
echo "   /usr/local/etc/minio.env rendered; MinIO's environ holds the KES values; --check 0"

log "a config.env MinIO's user cannot read: --check says so, the preflight refuses, MinIO does not start"
ct chown root:root /usr/local/etc /usr/local/etc/minio.env
rc=0; ct kesgate render --check >"$work/check-unreadable.txt" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "cannot read it" "$work/check-unreadable.txt" || die "render --check (exit $rc): $(cat "$work/check-unreadable.txt")"
ct systemctl stop minio.service
ct systemctl start --no-block minio.service
wait_for_prop minio.service StatusText 'cannot read it' >/dev/null
[ "$(unit_prop minio.service MainPID)" = 0 ] || die "MinIO started although its user cannot read its config env file"
echo "   render --check $rc, minio.service STATUS: $(unit_prop minio.service StatusText | cut -c1-120)…"
ct systemctl stop minio.service || true

log "purge removes every backup kesgate made, and nothing of the operator's"
cp "$CT_ROOT/etc/default/minio" "$work/default-at-purge"
ls "$CT_ROOT/etc/default/minio.kesgate-prev" "$CT_ROOT/etc/minio/config.env.kesgate-prev" >/dev/null || die "expected backups to purge"
ct dpkg --purge kesgate >"$work/purge.log" 2>&1 || die "purge: $(cat "$work/purge.log")"
for f in /etc/default/minio.kesgate-prev /etc/minio/config.env.kesgate-prev /usr/local/etc/minio.env.kesgate-prev /var/lib/kesgate; do
    [ ! -e "$CT_ROOT$f" ] || die "purge left $f"
done
cmp -s "$work/default-at-purge" "$CT_ROOT/etc/default/minio" || die "purge changed /etc/default/minio"
[ -f "$CT_ROOT/etc/minio/config.env" ] && [ -f "$CT_ROOT/usr/local/etc/minio.env" ] || die "purge removed an env file"
echo "   purge: backups and /var/lib/kesgate gone; the env files as they were"
echo "system-test: 1 passed, 0 failed"
