#!/usr/bin/env bash
# The hosts operators really have: one table of minio.service shapes, each
# applied as a drop-in to upstream's unit on a host adopted with `kesgate
# init --adopt` from the .deb, under a booted systemd. For each shape:
# sealed Vault → MinIO waits and STATUS says why; unseal → MinIO active with
# the environment it should have, and the drop-in's second line (`preflight
# --as-minio`, as MinIO inside its sandbox) has spoken; a restart with KES
# down → waits, then recovers. A shape whose sandbox hides what MinIO needs
# must never be let through. Adding a shape is one line of SHAPES.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
harness_init

# name | expect (ok: MinIO runs; held: MinIO must not start) | a variable
# MinIO's process must have (NAME=value, or -) | the drop-in's lines, `;`
# between them (@UID@/@GID@: minio-user's numeric ids).
SHAPES=(
    "upstream|ok|MINIO_KMS_KES_KEY_NAME=minio-backend-default-key|"
    "directories|ok|-|RuntimeDirectory=minio;StateDirectory=minio;ConfigurationDirectory=minio;LogsDirectory=minio"
    "hardened|ok|-|ProtectSystem=strict;ReadWritePaths=-/var/lib/minio;PrivateTmp=yes;ProtectHome=yes;NoNewPrivileges=yes;CapabilityBoundingSet="
    "as-root|ok|-|User=root;Group=root;RuntimeDirectory=minio;StateDirectory=minio-state"
    "dynamic-user|ok|-|User=minio-dyn;Group=minio-dyn;DynamicUser=yes"
    "numeric-user|ok|-|User=@UID@;Group=@GID@"
    "optional-envfile|ok|MINIO_KMS_KES_KEY_NAME=minio-backend-default-key|EnvironmentFile=;EnvironmentFile=-/etc/default/minio"
    "later-envfile|ok|MINIO_KMS_KES_KEY_NAME=later-key|EnvironmentFile=/etc/minio/later.env"
    "glob-envfile|ok|MINIO_BROWSER=glob|EnvironmentFile=/etc/minio/glob-*.env"
    "dropin-environment|ok|MINIO_BROWSER=off|Environment=MINIO_BROWSER=off"
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
for row in "${SHAPES[@]}"; do
    IFS='|' read -r name expect want lines <<<"$row"
    log "shape $name ($expect)"
    ct systemctl stop minio.service
    { echo '[Service]'; tr ';' '\n' <<<"$lines" | sed "s/@UID@/$uid/; s/@GID@/$gid/"; } >"$dropin"
    ct systemctl daemon-reload
    c=$(cursor)

    # Sealed: KES exits at start while its Vault is sealed; MinIO waits.
    seal_openbao
    ct systemctl restart kes.service
    ct systemctl start --no-block minio.service
    echo "   sealed: $(wait_for_prop minio.service StatusText '^kesgate: .*(sealed|not reachable|not ready)' | cut -c1-110)…"
    [ "$(unit_prop minio.service ActiveState)" != active ] || die "$name: MinIO is active while the Vault is sealed"

    unseal_openbao
    if [ "$expect" = held ]; then
        # The sandbox hides what MinIO needs: kesgate must never let it start.
        for _ in $(seq 1 400); do
            ct journalctl --cursor "$c" -u minio.service --no-pager -q | grep -q 'cannot be opened by MinIO here' && break
            sleep 0.05
        done
        ct journalctl --cursor "$c" -u minio.service --no-pager -q | grep -q 'cannot be opened by MinIO here' \
            || die "$name: the check as MinIO never said what MinIO cannot open: $(ct journalctl --cursor "$c" -u minio -n 20 --no-pager)"
        [ "$(unit_prop minio.service ActiveState)" != active ] || die "$name: MinIO started although its sandbox hides the CA"
        echo "   held: $(unit_prop minio.service StatusText | cut -c1-110)…"
        ct systemctl stop minio.service
        passed=$((passed + 1))
        continue
    fi
    wait_for_prop minio.service ActiveState '^active$' >/dev/null
    status=$(unit_prop minio.service StatusText)
    [[ $status == *"MinIO's own view"* ]] || die "$name: the check as MinIO did not run (STATUS: $status)"
    [ "$(main_env MINIO_KMS_KES_API_KEY)" = "$API_KEY" ] || die "$name: MinIO has not the adopted API key"
    if [ "$want" != - ]; then
        [ "$(main_env "${want%%=*}")" = "${want#*=}" ] || die "$name: MinIO's ${want%%=*} is '$(main_env "${want%%=*}")', not '${want#*=}'"
    fi
    echo "   active: $(cut -c1-110 <<<"$status")…"

    # A restart with KES down waits, and recovers when KES is back.
    ct systemctl stop kes.service
    ct systemctl restart --no-block minio.service
    wait_for_prop minio.service StatusText '^kesgate: .*not reachable' >/dev/null
    [ "$(unit_prop minio.service ActiveState)" != active ] || die "$name: MinIO active with KES down"
    ct systemctl start kes.service
    wait_for_prop minio.service ActiveState '^active$' >/dev/null
    # kesgate's own files stayed kesgate's: one lock, in its own directory.
    [ -f "$CT_ROOT/run/kesgate/render.lock" ] || die "$name: the render lock is not in /run/kesgate"
    ! ls "$CT_ROOT"/run/minio/*.lock >/dev/null 2>&1 || die "$name: kesgate wrote a lock into MinIO's runtime directory"
    passed=$((passed + 1))
done
rm -f "$dropin"
echo "unit shapes: $passed passed, 0 failed"
