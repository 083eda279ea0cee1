#!/usr/bin/env bash
# The main job, for real: a booted systemd runs kesgate.service while the KES
# key store (a real OpenBao) is sealed; an operator unseals it; kesgate
# reports READY and the journal tells the story.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bash "$here/../setup.sh"
harness_init
say() { printf '\n\033[1;34m>>> %s\033[0m\n' "$*"; }

say "Step 1 of the runbook, done by kesgate: a fresh KES API key and the policy for KES"
"$BIN" identity new --policy minio >"$work/identity.txt"
API_KEY=$(sed -n 2p "$work/identity.txt")
IDENTITY=$(tail -n1 "$work/identity.txt")
sed '2s/.*/kes:v1:<the secret: not shown>/' "$work/identity.txt"

say "OpenBao (the KMS behind KES) starts sealed; the KES test server uses it as key store"
start_openbao "$work" "$(free_port)"
bao status -format=json | python3 -c 'import json,sys; s=json.load(sys.stdin); print("OpenBao sealed:", s["sealed"])' || true
KES_PORT=$(free_port)
start_kes kes "$KES_PORT" "$IDENTITY"
echo "KES: https://localhost:$KES_PORT"

say "Booting systemd (Debian bookworm in systemd-nspawn) with kesgate installed"
boot_container "$work"
install_kesgate "$work/kes/ca.pem"
write_config "$KES_PORT"
ct systemctl daemon-reload
ct cat /etc/kesgate/kesgate.toml

say "/etc/default/minio before: the operator's lines"
cat "$CT_ROOT/etc/default/minio"

say "systemctl start kesgate.service   (KES is up, its key store is sealed)"
ct systemctl start --no-block kesgate.service
wait_for_prop kesgate.service StatusText 'attempt ([5-9]|[1-9][0-9]),' >/dev/null
ct systemctl status --no-pager kesgate.service || true

say "The operator unseals OpenBao"
t0=$(date +%s%N)
unseal_openbao
wait_for_prop kesgate.service ActiveState '^active$' >/dev/null
t1=$(date +%s%N)
echo "kesgate.service active $(( (t1 - t0) / 1000000 )) ms after the unseal (includes this script's polling)"
ct systemctl status --no-pager kesgate.service || true

say "/etc/default/minio as kesgate rendered it (the API key masked here)"
ls -l "$CT_ROOT/etc/default/minio"
sed 's/\(MINIO_KMS_KES_API_KEY=\).*/\1"<secret>"/' "$CT_ROOT/etc/default/minio"
say "kesgate render --check: would MinIO accept it, does it match the configuration?"
ct kesgate --log terminal render --check

say "journalctl -u kesgate -o verbose: the structured fields of the state changes"
ct journalctl -u kesgate.service -o verbose --no-pager \
    | grep -E '^[A-Z][a-z]{2} |MESSAGE=|MESSAGE_ID=|KESGATE_|PRIORITY=' | grep -v '_SOURCE' | sed 's/^/  /'
say "The default key, created by kesgate, is in OpenBao"
BAO_TOKEN=$(cat "$work/bao-token") bao read -format=json kes/minio-backend-default-key | python3 -c 'import json,sys; print("kes/minio-backend-default-key:", "present" if json.load(sys.stdin)["data"] else "missing")'
say "Done: wait → default key → /etc/default/minio, under a real systemd"
