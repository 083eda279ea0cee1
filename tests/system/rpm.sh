#!/usr/bin/env bash
# The .rpm in a booted systemd (bookworm with Debian's rpm; --nodeps, since
# that root's packages are not in rpm's database): install runs the
# scriptlets (preset honoured: the seeding units enabled, nothing started),
# kesgate runs; an upgrade to a higher release keeps the configuration and
# the enabled state; erase removes every file of the package and leaves
# /etc/default/minio and the operator's configuration untouched.
# (Debian's rpm also wants --force-debian.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
harness_init

triple=$(rustc -vV | sed -n 's/^host: //p')
log "build the .rpm, and the same at release 2"
(cd "$repo" && packaging/build rpm >"$work/build-rpm.log" 2>&1) || die "packaging/build rpm: $(tail -20 "$work/build-rpm.log")"
rpm1=$(ls -t "$repo"/target/"$triple"/generate-rpm/kesgate-*.rpm | head -n1)
(cd "$repo" && cargo generate-rpm --target "$triple" -s 'release = "2"' -o "$work/kesgate-release2.rpm" >/dev/null 2>&1) \
    || die "cargo generate-rpm for release 2 failed"
rpm -qp --qf '%{RELEASE}\n' "$work/kesgate-release2.rpm" | grep -qx 2 || die "the upgrade package is not release 2"

boot_container "$work"
ct rpm --version >/dev/null || die "no rpm in the container"
printf '%s\n' '# MinIO settings (the operator'"'"'s)' 'MINIO_VOLUMES="/var/lib/minio"' >"$CT_ROOT/etc/default/minio"
cp "$CT_ROOT/etc/default/minio" "$work/minio.before"

log "rpm -i: files in place, preset honoured, nothing started, kesgate runs"
cp "$rpm1" "$CT_ROOT/root/kesgate.rpm"
cp "$work/kesgate-release2.rpm" "$CT_ROOT/root/kesgate-2.rpm"
ct rpm -i --nodeps --force-debian /root/kesgate.rpm >"$work/rpm-i.log" 2>&1 || die "rpm -i: $(cat "$work/rpm-i.log")"
rpm -qpl "$rpm1" >"$work/files"
while read -r f; do
    ct test -e "$f" || die "rpm -i did not install $f"
done <"$work/files"
for u in kesgate-keys.service kesgate-buckets.service kesgate-watch.timer; do
    [ "$(ct systemctl is-enabled "$u")" = enabled ] || die "$u is not enabled per preset after rpm -i"
done
for u in kesgate.service kesgate-keys.service kesgate-buckets.service kesgate-watch.timer kesgate-watch.service; do
    [ "$(unit_prop "$u" LoadState)" = loaded ] || die "$u is not loaded after rpm -i (daemon-reload?)"
    [ "$(unit_prop "$u" ActiveState)" = inactive ] || die "$u was started by rpm"
done
[ "$(stat -c '%a %u:%g' "$CT_ROOT/etc/kesgate")" = "755 0:0" ] || die "rpm -i did not create /etc/kesgate 0755 root:root"
ct /usr/bin/kesgate --version >"$work/version" || die "the packaged kesgate does not run"
echo "   $(cat "$work/version"); $(wc -l <"$work/files") files"

log "rpm -U to release 2: the configuration and the enabled state are kept"
install -d -m 700 "$CT_ROOT/etc/kesgate"
printf '[kes]\nendpoints = ["https://kes:7373"]\napi_key_file = "/etc/kesgate/kes-api-key"\ndefault_key = "minio-default"\n# the operator'"'"'s\n' \
    >"$CT_ROOT/etc/kesgate/kesgate.toml"
cp "$CT_ROOT/etc/kesgate/kesgate.toml" "$work/toml.before"
ct systemctl disable kesgate-buckets.service >/dev/null 2>&1
ct rpm -U --nodeps --force-debian /root/kesgate-2.rpm >"$work/rpm-U.log" 2>&1 || die "rpm -U: $(cat "$work/rpm-U.log")"
[ "$(ct rpm -q --qf '%{RELEASE}' kesgate)" = 2 ] || die "release 2 is not installed"
cmp -s "$work/toml.before" "$CT_ROOT/etc/kesgate/kesgate.toml" || die "the upgrade changed kesgate.toml"
[ "$(ct systemctl is-enabled kesgate-keys.service)" = enabled ] || die "the upgrade disabled kesgate-keys.service"
[ "$(ct systemctl is-enabled kesgate-buckets.service)" = disabled ] || die "the upgrade re-enabled what the operator disabled"
for u in kesgate.service kesgate-keys.service kesgate-buckets.service; do
    [ "$(unit_prop "$u" ActiveState)" = inactive ] || die "$u was started by the upgrade"
done

log "rpm -e: every file of the package is gone (the metrics file too); /etc/default/minio and kesgate.toml stay"
# A metrics file an earlier round left (node_exporter would serve it on).
install -d "$CT_ROOT/var/lib/prometheus/node-exporter"
echo 'kesgate_build_info{version="0"} 1' >"$CT_ROOT/var/lib/prometheus/node-exporter/kesgate.prom"
echo 'node_other 1' >"$CT_ROOT/var/lib/prometheus/node-exporter/other.prom"
ct rpm -e kesgate >"$work/rpm-e.log" 2>&1 || die "rpm -e: $(cat "$work/rpm-e.log")"
while read -r f; do
    [ -d "$CT_ROOT$f" ] && continue
    ! ct test -e "$f" || die "rpm -e left $f"
done <"$work/files"
[ "$(unit_prop kesgate.service LoadState)" = not-found ] || die "kesgate.service is still known after rpm -e"
cmp -s "$work/minio.before" "$CT_ROOT/etc/default/minio" || die "rpm -e changed /etc/default/minio"
cmp -s "$work/toml.before" "$CT_ROOT/etc/kesgate/kesgate.toml" || die "rpm -e changed the operator's kesgate.toml"
! ct test -e /var/lib/kesgate || die "rpm -e left /var/lib/kesgate"
! ct test -e /var/lib/prometheus/node-exporter/kesgate.prom || die "rpm -e left the metrics file"
ct test -e /var/lib/prometheus/node-exporter/other.prom || die "rpm -e removed another collector's file"
echo "rpm: install, upgrade, erase: all checks passed"
