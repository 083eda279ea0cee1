#!/usr/bin/env bash
# The hosts operators really have: one table of minio.service shapes, each
# applied as a drop-in to upstream's unit on a host adopted with `kesgate
# init --adopt` from the .deb, under a booted systemd. Every shape goes
# through one cycle: sealed Vault → MinIO waits and STATUS says why; unseal
# → MinIO active with the environment it should have, and the drop-in's
# second line (`preflight --as-minio`, as MinIO inside its sandbox) has
# spoken; a restart with KES down → waits, then recovers. A shape whose
# sandbox hides what MinIO needs must never be let through. Adding a shape
# is one line of SHAPES; shapes that need more than a drop-in (kesgate's
# credential, certificate authentication, a template instance) set up, then
# run the same cycle.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
harness_init

# name | expect (ok: MinIO runs; held: MinIO must not start) | a variable
# MinIO's process must have (NAME=value; !NAME: must not have; or -) |
# the drop-in's lines, `;`
# between them (@UID@/@GID@: minio-user's numeric ids).
SHAPES=(
    "upstream|ok|MINIO_KMS_KES_KEY_NAME=minio-backend-default-key|"
    "directories|ok|-|RuntimeDirectory=minio;StateDirectory=minio;ConfigurationDirectory=minio;LogsDirectory=minio"
    "hardened|ok|-|ProtectSystem=strict;ReadWritePaths=-/var/lib/minio;PrivateTmp=yes;ProtectHome=yes;NoNewPrivileges=yes;CapabilityBoundingSet="
    "as-root|ok|-|User=root;Group=root;RuntimeDirectory=minio;StateDirectory=minio-state"
    "root-without-capabilities|ok|-|User=root;Group=root;CapabilityBoundingSet=;AmbientCapabilities="
    "dynamic-user|ok|-|User=minio-dyn;Group=minio-dyn;DynamicUser=yes"
    "numeric-user|ok|-|User=@UID@;Group=@GID@"
    "optional-envfile|ok|MINIO_KMS_KES_KEY_NAME=minio-backend-default-key|EnvironmentFile=;EnvironmentFile=-/etc/default/minio"
    "later-envfile|ok|MINIO_KMS_KES_KEY_NAME=later-key|EnvironmentFile=/etc/minio/later.env"
    "glob-envfile|ok|MINIO_BROWSER=glob|EnvironmentFile=/etc/minio/glob-*.env"
    "dropin-environment|ok|MINIO_BROWSER=off|Environment=MINIO_BROWSER=off"
    "unset-environment|ok|!MINIO_BROWSER|EnvironmentFile=/etc/minio/glob-1.env;UnsetEnvironment=MINIO_BROWSER"
    "kesgate-variables-in-minio|ok|-|Environment=KESGATE_CONFIG=/nonexistent/kesgate.toml RUNTIME_DIRECTORY=/run/minio-elsewhere STATE_DIRECTORY=/var/lib/minio-elsewhere"
    "ca-hidden-by-sandbox|held|-|InaccessiblePaths=/etc/kes/tls"
)

chain_setup
build_deb
chain_host
cp "$DEB" "$CT_ROOT/root/kesgate.deb"
ct dpkg -i /root/kesgate.deb >"$work/dpkg-install.log" 2>&1 || die "dpkg -i: $(cat "$work/dpkg-install.log")"
kesgate_adopt "$MINIO_PORT"
# A later EnvironmentFile= that names another default key (MinIO takes it,
# and creates that key at start-up), and files a glob names.
install -d -m 755 "$CT_ROOT/etc/minio"
printf 'MINIO_KMS_KES_KEY_NAME=later-key\n' >"$CT_ROOT/etc/minio/later.env"
printf 'MINIO_BROWSER=glob-first\n' >"$CT_ROOT/etc/minio/glob-1.env"
printf 'MINIO_BROWSER=glob\n' >"$CT_ROOT/etc/minio/glob-2.env"
uid=$(ct id -u minio-user) gid=$(ct id -g minio-user)
dropin=$CT_ROOT/etc/systemd/system/minio.service.d/zz-shape.conf
mkdir -p "$(dirname "$dropin")"
passed=0

# main_env_of UNIT NAME: NAME's value in UNIT's main process.
main_env_of() {
    ct cat "/proc/$(unit_prop "$1" MainPID)/environ" | tr '\0' '\n' | sed -n "s/^$2=//p"
}

# cycle NAME EXPECT WANT [UNIT]: the shape's cycle for UNIT (minio.service).
# WANT: NAME=value MinIO's process must have ("-": none beyond the key).
cycle() {
    local name=$1 expect=$2 want=$3 unit=${4:-minio.service} c status theirs
    c=$(cursor)
    # Sealed: KES exits at start while its Vault is sealed; MinIO waits.
    seal_openbao
    ct systemctl restart kes.service
    ct systemctl start --no-block "$unit"
    echo "   sealed: $(wait_for_prop "$unit" StatusText '^kesgate: .*(sealed|not reachable|not ready)' | cut -c1-110)…"
    [ "$(unit_prop "$unit" ActiveState)" != active ] || die "$name: MinIO is active while the Vault is sealed"

    unseal_openbao
    if [ "$expect" = held ]; then
        # The sandbox hides what MinIO needs: kesgate must never let it start.
        wait_for_kesgate_line "$c" 'cannot be opened by MinIO here' \
            || die "$name: the check as MinIO never said what MinIO cannot open: $(ct journalctl --cursor "$c" -u "$unit" -n 20 --no-pager)"
        [ "$(unit_prop "$unit" ActiveState)" != active ] || die "$name: MinIO started although its sandbox hides the CA"
        echo "   held: $(unit_prop "$unit" StatusText | cut -c1-110)…"
        ct systemctl stop "$unit"
        passed=$((passed + 1))
        return
    fi
    wait_for_prop "$unit" ActiveState '^active$' >/dev/null
    status=$(unit_prop "$unit" StatusText)
    [[ $status == *"MinIO's own view"* ]] || die "$name: the check as MinIO did not run (STATUS: $status)"
    if [[ $want == !* ]]; then
        [ -z "$(main_env_of "$unit" "${want#!}")" ] || die "$name: MinIO has ${want#!}, which the unit unsets"
    elif [ "$want" != - ]; then
        [ "$(main_env_of "$unit" "${want%%=*}")" = "${want#*=}" ] \
            || die "$name: MinIO's ${want%%=*} is '$(main_env_of "$unit" "${want%%=*}")', not '${want#*=}'"
    fi
    echo "   active: $(cut -c1-110 <<<"$status")…"

    # A restart with KES down waits, and recovers when KES is back.
    ct systemctl stop kes.service
    ct systemctl restart --no-block "$unit"
    wait_for_prop "$unit" StatusText '^kesgate: .*not reachable' >/dev/null
    [ "$(unit_prop "$unit" ActiveState)" != active ] || die "$name: MinIO active with KES down"
    ct systemctl start kes.service
    wait_for_prop "$unit" ActiveState '^active$' >/dev/null
    # kesgate's own files stayed kesgate's: nothing of kesgate's (lock,
    # episode, pending render, backups list) in MinIO's unit directories.
    theirs=$(ct sh -c 'ls -A /run/minio /run/minio-elsewhere /var/lib/minio /var/lib/minio-state /var/lib/minio-elsewhere /etc/minio /var/log/minio 2>/dev/null' \
        | grep -E 'lock|episode|kesgate|pending|backups' || true)
    [ -z "$theirs" ] || die "$name: kesgate wrote into MinIO's directories: $theirs"
    ct test -d /run/kesgate || die "$name: kesgate's runtime directory is missing"
    passed=$((passed + 1))
}

for row in "${SHAPES[@]}"; do
    IFS='|' read -r name expect want lines <<<"$row"
    log "shape $name ($expect)"
    ct systemctl stop minio.service
    { echo '[Service]'; tr ';' '\n' <<<"$lines" | sed "s/@UID@/$uid/; s/@GID@/$gid/"; } >"$dropin"
    ct systemctl daemon-reload
    cycle "$name" "$expect" "$want"
    [ "$expect" = held ] || [ "$(main_env MINIO_KMS_KES_API_KEY)" = "$API_KEY" ] || die "$name: MinIO has not the adopted API key"
done
rm -f "$dropin"
ct systemctl daemon-reload

log "shape kesgate-credential: LoadCredential= in a kesgate.service drop-in; the preflight in MinIO's (namespaced) unit renders that key"
ct systemctl stop minio.service
cp -p "$CT_ROOT/etc/kesgate/kes-api-key" "$CT_ROOT/etc/kesgate/credential-key"
# The configuration's own key file now holds another key: only the
# credential makes the gate pass with MinIO's identity.
(umask 077; printf '%s\n' "$("$BIN" identity new | sed -n 2p)" >"$CT_ROOT/etc/kesgate/kes-api-key")
mkdir -p "$CT_ROOT/etc/systemd/system/kesgate.service.d"
printf '[Service]\nLoadCredential=kes-api-key:/etc/kesgate/credential-key\n' \
    >"$CT_ROOT/etc/systemd/system/kesgate.service.d/credential.conf"
ct systemctl daemon-reload
ct systemctl restart kesgate.service
cycle kesgate-credential ok "MINIO_KMS_KES_API_KEY=$API_KEY"
cp -p "$CT_ROOT/etc/kesgate/credential-key" "$CT_ROOT/etc/kesgate/kes-api-key"
rm "$CT_ROOT/etc/systemd/system/kesgate.service.d/credential.conf"
ct systemctl daemon-reload
ct systemctl restart kesgate.service

log "shape cert-auth-minio-owned-key: certificate authentication, the key owned by minio-user 0600, adopted with init --adopt"
ct systemctl stop minio.service
openssl req -x509 -newkey ed25519 -nodes -subj /CN=minio-client -days 30 \
    -keyout "$work/client.key" -out "$work/client.crt" >/dev/null 2>&1
cert_id=$("$BIN" identity of --file "$work/client.crt" | tail -n1)
sed -i "s/--policy minio=$IDENTITY:/--policy minio=$IDENTITY,$cert_id:/" "$CT_ROOT/etc/systemd/system/kes.service"
install -d -m 755 "$CT_ROOT/etc/minio/kes"
install -m 644 "$work/client.crt" "$CT_ROOT/etc/minio/kes/client.crt"
install -m 600 "$work/client.key" "$CT_ROOT/etc/minio/kes/client.key"
ct chown minio-user:minio-user /etc/minio/kes/client.key
sed -i '/^MINIO_KMS_KES_API_KEY=/d' "$CT_ROOT/etc/default/minio"
printf 'MINIO_KMS_KES_CERT_FILE=/etc/minio/kes/client.crt\nMINIO_KMS_KES_KEY_FILE=/etc/minio/kes/client.key\n' >>"$CT_ROOT/etc/default/minio"
ct systemctl daemon-reload
ct systemctl restart kes.service
wait_for_kes_listening
ct kesgate init --adopt --force >"$work/init-cert.log" 2>&1 || die "init --adopt of certificate auth: $(cat "$work/init-cert.log")"
! grep -q 'PRIVATE KEY' "$work/init-cert.log" || die "init printed the client key"
ct kesgate render --check >"$work/check-cert.log" 2>&1 || die "render --check after adopting certificate auth: $(cat "$work/check-cert.log")"
cycle cert-auth-minio-owned-key ok MINIO_KMS_KES_KEY_FILE=/etc/minio/kes/client.key

log "shape template-instance: minio@a.service named by [minio] unit is gated; minio@b.service starts as before"
ct systemctl stop minio.service
sed -e 's|^EnvironmentFile=.*|EnvironmentFile=/etc/default/minio-%i|' -e 's|^Description=.*|Description=MinIO %i|' \
    "$CT_ROOT/lib/systemd/system/minio.service" >"$CT_ROOT/etc/systemd/system/minio@.service"
cp -p "$CT_ROOT/etc/default/minio" "$CT_ROOT/etc/default/minio-a"
# minio@b: another MinIO on this host, with its own env file kesgate does
# not manage (the same KES settings, set by hand).
sed "s/--address :$MINIO_PORT/--address :$(free_port)/" "$CT_ROOT/etc/default/minio" >"$CT_ROOT/etc/default/minio-b"
python3 - "$CT_ROOT/etc/kesgate/kesgate.toml" <<'PY'
import re, sys
p = sys.argv[1]
t = open(p).read()
if 'path = "/etc/default/minio"' in t:
    t = t.replace('path = "/etc/default/minio"', 'path = "/etc/default/minio-a"')
else:
    t += '\n[env_file]\npath = "/etc/default/minio-a"\n'
t = re.sub(r'(?m)^\[minio\]\n', '[minio]\nunit = "minio@a.service"\n', t) if '[minio]' in t else t + '\n[minio]\nunit = "minio@a.service"\n'
open(p, "w").write(t)
PY
ct systemctl daemon-reload
[[ $(unit_prop minio@a.service DropInPaths) == *"/usr/lib/systemd/system/minio@.service.d/kesgate.conf"* ]] \
    || die "template: the package's drop-in is not in effect for minio@a.service"
cycle template-instance ok MINIO_KMS_KES_KEY_FILE=/etc/minio/kes/client.key minio@a.service
b_before=$(md5sum <"$CT_ROOT/etc/default/minio-b")
c=$(cursor)
ct systemctl start minio@b.service || die "template: minio@b.service (not kesgate's) did not start as before: $(ct journalctl -u minio@b.service -n 30 --no-pager)"
wait_for_kesgate_line "$c" 'minio@b.service is not the MinIO kesgate is configured for' \
    || die "template: minio@b.service's preflight did not say it is not kesgate's"
[ "$(md5sum <"$CT_ROOT/etc/default/minio-b")" = "$b_before" ] || die "template: kesgate wrote minio@b's env file"
echo "   minio@b.service: started as before kesgate, its env file untouched"

echo "unit shapes: $passed passed, 0 failed"
