#!/usr/bin/env bash
# The main job, for real: a host with MinIO (upstream's unit, the stand-in
# binary) and KES (as kes.service, a real OpenBao behind it) gets kesgate
# from its .deb, is configured, and boots while OpenBao is sealed. MinIO
# waits; the operator unseals; the chain runs: KES ready → default key →
# /etc/default/minio → minio.service → keys and bucket encryption seeded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
bash "$here/../setup.sh"
harness_init
say() { printf '\n\033[1;34m>>> %s\033[0m\n' "$*"; }

say "Step 1 of the runbook, done by kesgate: a fresh KES API key and the policy for KES"
"$BIN" identity new --policy minio >"$work/identity.txt"
API_KEY=$(sed -n 2p "$work/identity.txt")
IDENTITY=$(tail -n1 "$work/identity.txt")
sed '2s/.*/kes:v1:<the secret: not shown>/' "$work/identity.txt"
KES_PORT=$(free_port)
MINIO_PORT=$(free_port)

say "Building the .deb (packaging/build deb) and starting OpenBao, the KMS behind KES"
build_deb
echo "package: $DEB"
start_openbao "$work" "$(free_port)"
unseal_openbao

say "A Debian bookworm host under systemd (nspawn): KES as kes.service, MinIO as upstream's minio.service"
boot_container "$work"
kes_unit "$KES_PORT" "$IDENTITY"
minio_unit "$MINIO_PORT"
ct systemctl daemon-reload
ct systemctl enable kes.service minio.service >/dev/null 2>&1
ct systemctl start kes.service
cp "$DEB" "$CT_ROOT/root/kesgate.deb"
ct dpkg -i /root/kesgate.deb | sed 's/^/  /'
say "Configuring kesgate: \`kesgate init --adopt\` takes the KES lines the runbook pasted into /etc/default/minio"
kesgate_adopt "$MINIO_PORT"
sed 's/^/  /' "$work/init-adopt.log"
sed 's/^/  /' "$work/check-adopt.log"
echo "  (render after adoption: $(cat "$work/render-adopt.log"))"
echo "  then the seeding sections are added; /etc/kesgate/kesgate.toml:"
set_wait_timeout 15m
sed 's/^/  /' "$CT_ROOT/etc/kesgate/kesgate.toml"

say "OpenBao is sealed overnight; the host reboots (KES exits at start: it cannot log in to a sealed Vault)"
seal_openbao
NO_WAIT_BOOT=1 reboot_container
wait_for_prop kesgate.service StatusText 'Vault .* is sealed' >/dev/null
ct systemctl status --no-pager kesgate.service minio.service 2>&1 | sed 's/^/  /' || true
ct systemctl list-jobs --no-pager | sed 's/^/  /'

say "Morning: the operator unseals OpenBao — and runs nothing else"
t_unseal=$(monotonic_us)
unseal_openbao
wait_for_prop minio.service ActiveState '^active$' >/dev/null
kes_ready=$(unit_prop kesgate.service ActiveEnterTimestampMonotonic)
minio_active=$(unit_prop minio.service ActiveEnterTimestampMonotonic)
echo "kesgate.service ready $(((kes_ready - t_unseal) / 1000)) ms after the unseal; minio.service active after $(((minio_active - t_unseal) / 1000)) ms"
ct systemctl status --no-pager kesgate.service minio.service 2>&1 | sed 's/^/  /' || true

say "/etc/default/minio as kesgate rendered it (secrets masked here): the hand-pasted KES lines were updated in place"
sed -e 's/\(MINIO_KMS_KES_API_KEY=\).*/\1"<secret>"/' -e 's/\(MINIO_ROOT_PASSWORD=\).*/\1"<secret>"/' \
    "$CT_ROOT/etc/default/minio" | sed 's/^/  /'

say "Seeding: kesgate-keys.service and kesgate-buckets.service"
wait_for_prop kesgate-buckets.service ActiveState '^active$' >/dev/null
ct journalctl -b -u kesgate-keys.service -u kesgate-buckets.service -o cat --no-pager \
    | grep -E 'key |bucket' | sed 's/^/  /'
for key in minio-backend-default-key bucket-key; do
    bao_key_exists "$key" && echo "  OpenBao has kes/$key"
done

say "The journal this boot: kesgate's entries, one per state change, with MESSAGE_IDs and fields"
cat >"$work/entries.py" <<'PY'
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    unit, mid = e.get("_SYSTEMD_UNIT", "?"), e.get("MESSAGE_ID", "-")[:8]
    first = str(e.get("MESSAGE", "")).splitlines()[0][:100]
    fields = " ".join(f"{k}={v}" for k, v in e.items() if k.startswith("KESGATE_") and k != "KESGATE_CHANGED")
    print(f"  {unit:24} {mid:8}  {first}")
    if fields:
        print(" " * 36 + fields)
PY
ct journalctl -b -o json --no-pager SYSLOG_IDENTIFIER=kesgate | python3 "$work/entries.py"
say "Between boots: kesgate-watch.timer runs the status checks once a minute (metrics for node_exporter, journal entries on change only)"
ct systemctl list-timers --no-pager kesgate-watch.timer 2>&1 | sed 's/^/  /' || true
ct kesgate status --nagios 2>&1 | sed 's/^/  /' || true
ct kesgate status --prometheus 2>/dev/null | grep -E '^kesgate_(kes_ready|kes_key_store_ready|vault_sealed|env_matches|keys_missing|minio_env_info)' | sed 's/^/  /' || true
say "Done: MinIO came up by itself once KES could serve its keys"
