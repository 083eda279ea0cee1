#!/usr/bin/env bash
# The MinIO boot chain under a real systemd (252; 247 with
# KESGATE_SUITE=bullseye, see boot-chain-bullseye.sh), installed from kesgate's
# .deb (issues 5 and 7): KES wait → default key → /etc/default/minio →
# minio.service → key and bucket seeding; MinIO comes back by itself after
# any outage; a permanent error stops the loop; package upgrade/remove/purge.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
harness_init

chain_setup
build_deb

log "a host that already runs MinIO with KES set up by hand (the runbook)"
hand_made_host
minio_pid=$(unit_prop minio.service MainPID)

log "install the .deb: nothing changes for the running MinIO"
cp "$DEB" "$CT_ROOT/root/kesgate.deb"
ct dpkg -i /root/kesgate.deb >"$work/dpkg-install.log" 2>&1 || die "dpkg -i: $(cat "$work/dpkg-install.log")"
[ "$(unit_prop minio.service MainPID)" = "$minio_pid" ] || die "installing kesgate restarted MinIO"
# The Install recipe's first step writes into /etc/kesgate: the package makes it.
[ "$(stat -c '%a %u:%g' "$CT_ROOT/etc/kesgate")" = "755 0:0" ] || die "dpkg -i did not create /etc/kesgate 0755 root:root"
if [ -n "$ARCH" ]; then
    [ "$(ct dpkg --print-architecture)" = "$ARCH" ] || die "the container is not $ARCH"
    [ "$(ct dpkg-query -W -f '${Architecture}' kesgate)" = "$ARCH" ] || die "the installed kesgate is not the $ARCH package"
    echo "   an $ARCH rootfs and package, run through qemu-user: SystemCallFilter= is not enforced there (qemu refuses seccomp), so $ARCH's system-call filter is untested"
fi
[[ $(unit_prop minio.service DropInPaths) == */usr/lib/systemd/system/minio.service.d/kesgate.conf* ]] \
    || die "the drop-in is not in effect for minio.service"
for u in kesgate.service kesgate-keys.service kesgate-buckets.service; do
    [ "$(unit_prop $u ActiveState)" = inactive ] || die "$u was started by dpkg"
done
[ "$(ct systemctl is-enabled kesgate-keys.service)" = enabled ] || die "kesgate-keys.service not enabled per preset"

log "systemd-analyze: every unit and the drop-in verify cleanly; kesgate's units score ≤ 2.0"
for u in kesgate.service kesgate-keys.service kesgate-buckets.service kesgate-watch.service kesgate-watch.timer minio.service; do
    ct systemd-analyze verify --man=no "$u" >"$work/verify.out" 2>"$work/verify.err" \
        || die "systemd-analyze verify $u: $(cat "$work/verify.err")"
    [ ! -s "$work/verify.err" ] || die "systemd-analyze verify $u warns: $(cat "$work/verify.err")"
done
# `systemd-analyze security --offline` came with systemd 250: scored under
# bookworm only (docs/operations.md says what older ones lose).
if [ "$SUITE" = bookworm ]; then
    for u in kesgate.service kesgate-keys.service kesgate-buckets.service kesgate-watch.service; do
        ct systemd-analyze security --offline=true --threshold=20 "/usr/lib/systemd/system/$u" \
            >"$work/security.out" 2>&1 || die "$u scores above 2.0: $(tail -n1 "$work/security.out")"
        echo "   $(tail -n1 "$work/security.out")"
    done
fi

log "not configured yet: a MinIO restart runs as before (kesgate.service skipped, preflight says so)"
ct systemctl restart minio.service
[ "$(unit_prop minio.service ActiveState)" = active ] || die "MinIO did not restart unconfigured"
[ "$(unit_prop kesgate.service ConditionResult)" = no ] || die "kesgate.service should be skipped without a config"
[[ $(unit_prop minio.service StatusText) == *"not configured"* ]] || die "preflight should say 'not configured'"

log "the operator adopts the hand-made set-up (kesgate init --adopt); OpenBao is sealed; reboot"
kesgate_adopt "$MINIO_PORT"
sed 's/^/   /' "$work/init-adopt.log"
set_wait_timeout 2m
seal_openbao
c_first=$(cursor)
NO_WAIT_BOOT=1 reboot_container
# KES exits at start while its Vault is sealed (kes.service restarts it, 4 s
# a try): kesgate says so from the Vault's own seal status ([vault]).
wait_for_prop kesgate.service StatusText 'KES is down because its Vault is sealed' >/dev/null
[ "$(unit_prop minio.service ActiveState)" = inactive ] || die "minio.service should wait for kesgate.service"
[[ $(ct systemctl list-jobs --no-pager) == *"minio.service"*"start"*"waiting"* ]] || die "no waiting start job for minio"
ct systemctl status --no-pager kesgate.service >"$work/status-kesgate.txt" 2>&1 || true
grep -q "Vault $BAO_ADDR is sealed: 0 of 1 unseal keys entered), then KES must be restarted" "$work/status-kesgate.txt" \
    || die "systemctl status kesgate does not say why: $(cat "$work/status-kesgate.txt")"
sed -n '1,9p' "$work/status-kesgate.txt"

log "unseal OpenBao: kesgate.service becomes active, then minio.service starts"
t_unseal=$(monotonic_us)
unseal_openbao
wait_for_prop minio.service ActiveState '^active$' >/dev/null
kes_ready=$(unit_prop kesgate.service ActiveEnterTimestampMonotonic)
minio_began=$(unit_prop minio.service InactiveExitTimestampMonotonic)
minio_active=$(unit_prop minio.service ActiveEnterTimestampMonotonic)
((kes_ready <= minio_began)) || die "minio.service began ($minio_began) before kesgate.service was active ($kes_ready)"
echo "   unseal → kesgate.service active: $(((kes_ready - t_unseal) / 1000)) ms → minio.service began +$(((minio_began - kes_ready) / 1000)) ms, active: $(((minio_active - t_unseal) / 1000)) ms after the unseal"

log "MinIO's environment is the rendered one; the operator's lines are intact"
[ "$(main_env MINIO_KMS_KES_ENDPOINT)" = "https://localhost:$KES_PORT" ] || die "endpoint not rendered"
[ "$(main_env MINIO_KMS_KES_CAPATH)" = /etc/kes/tls/ca.pem ] || die "CAPATH is not the adopted one"
[ "$(main_env MINIO_KMS_KES_API_KEY)" = "$API_KEY" ] || die "API key not rendered"
[ "$(main_env MINIO_ROOT_PASSWORD)" = "$MINIO_PASSWORD" ] || die "the operator's MINIO_ROOT_PASSWORD changed"
[ "$(main_env MINIO_OPTS)" = "--address :$MINIO_PORT --console-address :9001" ] || die "MINIO_OPTS changed"
python3 - "$CT_ROOT/etc/kesgate/kesgate.toml" >"$work/tricky.tsv" <<'PY'
import sys, tomllib
for k, v in tomllib.load(open(sys.argv[1], "rb"))["env_file"]["set"].items():
    print(k, v.encode().hex(), sep="\t")
PY
while IFS=$'\t' read -r name hex; do
    got=$(main_env "$name" | od -An -tx1 | tr -d ' \n')
    [ "$got" = "$hex" ] || die "$name: MinIO got $(main_env "$name" | od -c | head -2), configured hex $hex"
done <"$work/tricky.tsv"
echo "   $(wc -l <"$work/tricky.tsv") tricky values reached MinIO byte-exact"
grep -q '^# MinIO settings (the operator'"'"'s)$' "$CT_ROOT/etc/default/minio" || die "operator comment lost"
grep -q '^MINIO_VOLUMES="/var/lib/minio"$' "$CT_ROOT/etc/default/minio" || die "MINIO_VOLUMES line changed"

log "seeding ran: keys on KES (in OpenBao), bucket encryption set on MinIO"
wait_for_prop kesgate-keys.service ActiveState '^active$' >/dev/null
wait_for_prop kesgate-buckets.service ActiveState '^active$' >/dev/null
bao_key_exists bucket-key || die "bucket-key is not in OpenBao"
bao_key_exists minio-backend-default-key || die "the default key is not in OpenBao"
python3 - "$MINIO_PORT" "$MINIO_PASSWORD" <<'PY' || die "bucket encryption not readable through boto3"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                  aws_access_key_id="minio-admin", aws_secret_access_key=sys.argv[2])
rule = s3.get_bucket_encryption(Bucket="encrypted")["ServerSideEncryptionConfiguration"]["Rules"][0]
d = rule["ApplyServerSideEncryptionByDefault"]
assert (d["SSEAlgorithm"], d["KMSMasterKeyID"]) == ("aws:kms", "bucket-key"), d
print("   bucket 'encrypted':", d)
PY
[ "$(count_entries "$c_first" kesgate-buckets.service "$ID_BUCKET_OUTCOME")" -ge 1 ] || die "no bucket outcome entry"
[ "$(count_entries "$c_first" kesgate-keys.service "$ID_KEY_CREATED")" -ge 1 ] || die "no key created entry"

# Under an older systemd (boot-chain-bullseye.sh) the boot chain is what is
# proven; the outage loops, upgrade and removal are bookworm's.
if [ -n "${BOOT_CHAIN_ONLY:-}" ]; then
    echo "boot-chain ($SUITE${ARCH:+ $ARCH}, $(ct systemctl --version | head -n1)): all checks passed"
    exit 0
fi

log "sealed for ≥ 5 × [wait] timeout (3 s) at boot: nothing fails for good; unseal → MinIO up by itself"
set_wait_timeout 3s
seal_openbao
c_boot=$(cursor)
NO_WAIT_BOOT=1 reboot_container
# The manager is the clock: kesgate.service retried ≥ 5 times, 3 s each.
wait_for_prop kesgate.service NRestarts '^([5-9]|[1-9][0-9]+)$' >/dev/null
[ "$(unit_prop minio.service ExecMainStartTimestampMonotonic)" = 0 ] || die "MinIO's process ran while sealed"
for u in minio.service kesgate.service; do
    [ "$(unit_prop $u ActiveState)" != failed ] || die "$u failed: $(unit_prop $u Result)"
done
# (A restart clears STATUS= until the next preflight sends one: wait for it.)
minio_status=$(wait_for_prop minio.service StatusText '^kesgate: .*Vault .* is sealed')
echo "   kesgate.service: $(unit_prop kesgate.service NRestarts) retries; minio.service: $(unit_prop minio.service NRestarts) restarts, \"$minio_status\""
for u in kesgate.service minio.service; do
    # KES exits while its Vault is sealed: not reachable, told once; the
    # Vault's state once too (its own MESSAGE_ID), never one entry per retry.
    kinds=$(not_ready_kinds "$c_boot" $u)
    [[ $kinds == unreachable ]] || die "$u: 'not ready' entries for one outage: $kinds"
    n=$(count_entries "$c_boot" $u "$ID_VAULT_STATE")
    [ "$n" = 1 ] || die "$u: the Vault's state told $n times"
    n=$(count_entries "$c_boot" $u "$ID_WAIT_GAVE_UP")
    [ "$n" -le 1 ] || die "$u: 'gave up' logged $n times: once per retry"
done
t_unseal=$(monotonic_us)
unseal_openbao
wait_for_prop minio.service ActiveState '^active$' >/dev/null
minio_main=$(unit_prop minio.service ExecMainStartTimestampMonotonic)
((minio_main > t_unseal)) || die "MinIO's process started before the unseal"
echo "   unseal → minio.service active: $((($(unit_prop minio.service ActiveEnterTimestampMonotonic) - t_unseal) / 1000)) ms (max_interval 500 ms)"
[ "$(main_env MINIO_KMS_KES_API_KEY)" = "$API_KEY" ] || die "MinIO started without the rendered key"

log "KES stops; MinIO restarts and waits (≥ 5 × timeout), no start-limit; KES back → MinIO back"
ct systemctl stop kes.service
c_restart=$(cursor)
ct systemctl restart --no-block minio.service
wait_for_prop minio.service NRestarts '^([5-9]|[1-9][0-9]+)$' >/dev/null
[ "$(unit_prop minio.service ActiveState)" != failed ] || die "minio.service failed: $(unit_prop minio.service Result)"
echo "   minio.service: $(wait_for_prop minio.service StatusText '^kesgate: .*not reachable')"
[ "$(not_ready_kinds "$c_restart" minio.service)" = unreachable ] \
    || die "expected one 'not ready' entry in minio's journal for $(unit_prop minio.service NRestarts) attempts"
t_kes=$(monotonic_us)
ct systemctl start kes.service
wait_for_prop minio.service ActiveState '^active$' >/dev/null
echo "   KES started → minio.service active: $((($(unit_prop minio.service ActiveEnterTimestampMonotonic) - t_kes) / 1000)) ms"
[ "$(main_env MINIO_KMS_KES_API_KEY)" = "$API_KEY" ] || die "MinIO restarted without the rendered key"

log "KES itself down at boot: the same"
ct systemctl disable --now kes.service >/dev/null 2>&1
c_down=$(cursor)
NO_WAIT_BOOT=1 reboot_container
wait_for_prop kesgate.service NRestarts '^([5-9]|[1-9][0-9]+)$' >/dev/null
[ "$(unit_prop minio.service ExecMainStartTimestampMonotonic)" = 0 ] || die "MinIO ran while KES was down"
# The hardened kesgate.service watches kes.service over D-Bus: it says that
# nothing will start KES, instead of a bare "connection refused".
wait_for_prop kesgate.service StatusText '^kes.service is stopped and nothing starts it; .*not reachable' >/dev/null
ct systemctl enable --now kes.service >/dev/null 2>&1
wait_for_prop minio.service ActiveState '^active$' >/dev/null
ct journalctl --cursor "$c_down" _SYSTEMD_UNIT=kesgate.service MESSAGE_ID=aa8945659a90473aa4e6afe66880ddf9 \
    -o json --no-pager >"$work/unit-watch.json"
[ "$(grep -c '"KESGATE_UNIT_STATE":"stopped"' "$work/unit-watch.json")" = 1 ] \
    || die "kesgate.service should tell 'kes.service stopped' once across its retries"
ct systemctl is-system-running --wait >/dev/null || true

log "a permanent error (identity refused) stops the loop: failed, exit 77"
sed -i "s/--policy minio=[0-9a-f]*:/--policy minio=$(printf '0%.0s' {1..64}):/" "$CT_ROOT/etc/systemd/system/kes.service"
ct systemctl daemon-reload
ct systemctl restart kes.service
c_perm=$(cursor)
ct systemctl restart --no-block minio.service
wait_for_prop minio.service ActiveState '^failed$' >/dev/null
ct systemctl status --no-pager minio.service >"$work/status-minio.txt" 2>&1 || true
grep -q 'ExecStartPre=/usr/bin/kesgate preflight (code=exited, status=77' "$work/status-minio.txt" \
    || die "status should show the preflight's 77: $(cat "$work/status-minio.txt")"
[[ $(unit_prop minio.service StatusText) == *"refused identity $IDENTITY"* ]] || die "minio's status should name the identity"
[ "$(count_entries "$c_perm" minio.service "$ID_IDENTITY_REJECTED")" -ge 1 ] || die "no IDENTITY_REJECTED entry"
ct systemctl restart kesgate.service >/dev/null 2>&1 || true
wait_for_prop kesgate.service ActiveState '^failed$' >/dev/null
[ "$(unit_prop kesgate.service ExecMainStatus)" = 77 ] || die "kesgate.service should fail with 77"
[ "$(unit_prop kesgate.service NRestarts)" = 0 ] || die "kesgate.service restarted after a permanent error"
ct journalctl -x --no-pager -u kesgate.service -n 40 >"$work/journal-x.txt"
grep -q 'Subject: KES refused kesgate.s identity' "$work/journal-x.txt" \
    || grep -q 'Waiting does not help' "$work/journal-x.txt" || die "journalctl -x shows no catalog text"

log "journal: structured fields, and no secret anywhere"
ct journalctl -o export --no-pager >"$work/journal.export"
grep -q '^KESGATE_ENDPOINT=' "$work/journal.export" || die "no KESGATE_ENDPOINT field"
grep -q "^MESSAGE_ID=$ID_KES_READY" "$work/journal.export" || die "no KES ready entry"
grep -q "^MESSAGE_ID=$ID_ENV_CHANGED" "$work/journal.export" || die "no env-changed entry"
seed=${API_KEY#kes:v1:}
for secret in "$seed" "$MINIO_PASSWORD" "$(cat "$work/bao-token")" "$BAO_UNSEAL_KEY"; do
    ! grep -aqF "$secret" "$work/journal.export" || die "a secret reached the journal"
done

log "restore the policy; upgrade the package: config survives, MinIO is not restarted"
sed -i "s/--policy minio=[0-9a-f]*:/--policy minio=$IDENTITY:/" "$CT_ROOT/etc/systemd/system/kes.service"
ct systemctl daemon-reload
ct systemctl restart kes.service
ct systemctl reset-failed minio.service kesgate.service
ct systemctl start minio.service
echo '# edited by the operator' >>"$CT_ROOT/etc/kesgate/kesgate.toml"
cp "$CT_ROOT/etc/kesgate/kesgate.toml" "$work/kesgate.toml.before"
minio_pid=$(unit_prop minio.service MainPID)
(cd "$repo" && cargo deb --no-build --target "$(rustc -vV | sed -n 's/^host: //p')" --deb-version 0.1.0-2 -o "$work/kesgate-upgrade.deb" >/dev/null 2>&1) \
    || die "cargo deb for the upgrade failed"
cp "$work/kesgate-upgrade.deb" "$CT_ROOT/root/kesgate-upgrade.deb"
ct dpkg -i /root/kesgate-upgrade.deb >"$work/dpkg-upgrade.log" 2>&1 || die "upgrade: $(cat "$work/dpkg-upgrade.log")"
[ "$(ct dpkg-query -W -f '${Version}' kesgate)" = 0.1.0-2 ] || die "not upgraded"
cmp -s "$work/kesgate.toml.before" "$CT_ROOT/etc/kesgate/kesgate.toml" || die "the config edit did not survive"
[ "$(unit_prop minio.service MainPID)" = "$minio_pid" ] || die "the upgrade restarted MinIO"

log "remove: MinIO keeps running with its rendered KES settings; purge: kesgate's files are gone"
cp "$CT_ROOT/etc/default/minio" "$work/minio.before-remove"
ct dpkg -r kesgate >"$work/dpkg-remove.log" 2>&1 || die "dpkg -r: $(cat "$work/dpkg-remove.log")"
[ "$(unit_prop minio.service MainPID)" = "$minio_pid" ] || die "removing kesgate stopped MinIO"
cmp -s "$work/minio.before-remove" "$CT_ROOT/etc/default/minio" || die "removal touched /etc/default/minio"
[ ! -e "$CT_ROOT/usr/lib/systemd/system/minio.service.d/kesgate.conf" ] || die "drop-in left behind"
[ -z "$(unit_prop minio.service DropInPaths)" ] || die "drop-in still in effect after remove"
[ -f "$CT_ROOT/etc/kesgate/kesgate.toml" ] || die "remove (not purge) deleted the configuration"
ct systemctl restart minio.service
[ "$(unit_prop minio.service ActiveState)" = active ] || die "MinIO does not restart without kesgate"
ct dpkg -P kesgate >"$work/dpkg-purge.log" 2>&1 || die "dpkg -P: $(cat "$work/dpkg-purge.log")"
[ ! -e "$CT_ROOT/etc/kesgate" ] && [ ! -e "$CT_ROOT/run/kesgate" ] || die "purge left kesgate's files"
[ -z "$(find "$CT_ROOT/etc/systemd/system" -name 'kesgate*')" ] || die "purge left enablement symlinks"
cmp -s "$work/minio.before-remove" "$CT_ROOT/etc/default/minio" || die "purge touched /etc/default/minio"

echo "boot-chain: all checks passed"
