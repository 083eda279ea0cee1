#!/usr/bin/env bash
# The packages: `packaging/build deb` and `packaging/build rpm` build them;
# lintian must report no error and no warning (overrides carry a reason;
# --show-overrides would count them again, so it is left out),
# rpmlint no error and no warning; both hold what the issue lists and never
# /etc/default/minio or anything of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# check_packages ARCH TRIPLE DEB_ARCH RPM_ARCH LOADER: builds ARCH's .deb
# and .rpm and checks them; the same rules for every architecture.
check_packages() {
    local arch=$1 triple=$2 deb_arch=$3 rpm_arch=$4 loader=$5
    echo "-- $arch ($triple)"
    packaging/build deb --arch "$arch" >"$work/deb.log" 2>&1 || fail "packaging/build deb --arch $arch: $(tail -20 "$work/deb.log")"
    packaging/build rpm --arch "$arch" >"$work/rpm.log" 2>&1 || fail "packaging/build rpm --arch $arch: $(tail -20 "$work/rpm.log")"
    grep '^compiler: ' "$work/deb.log"
    deb=$(realpath "$(ls -t target/"$triple"/debian/kesgate_*.deb | head -n1)")
    rpm=$(realpath "$(ls -t target/"$triple"/generate-rpm/kesgate-*.rpm | head -n1)")
    # The package is for ARCH, and so is the binary in it.
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$deb_arch" ] || fail ".deb Architecture: $(dpkg-deb -f "$deb" Architecture), not $deb_arch"
    [ "$(rpm -qp --qf '%{ARCH}' "$rpm")" = "$rpm_arch" ] || fail ".rpm arch: $(rpm -qp --qf '%{ARCH}' "$rpm"), not $rpm_arch"

    # The glibc floor (2.28: EL8) holds for the binary in each package and for
    # what each package asks of the system.
    floor=2.28
    le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]; }
    newest_glibc() { objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n1; }
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/kesgate >"$work/kesgate-from-deb"
    # rpm2cpio reports an error on cargo-generate-rpm's payload end; the archive is whole.
    rpm2cpio "$rpm" >"$work/rpm.cpio" || true
    cpio -i --quiet --to-stdout ./usr/bin/kesgate <"$work/rpm.cpio" >"$work/kesgate-from-rpm"
    for b in "$work/kesgate-from-deb" "$work/kesgate-from-rpm"; do
        newest=$(newest_glibc "$b")
        [ -n "$newest" ] || fail "$(basename "$b"): no glibc symbol versions found"
        le "$newest" "$floor" || fail "$(basename "$b") needs GLIBC_$newest, above the floor $floor"
    done
    cmp -s "$work/kesgate-from-deb" "$work/kesgate-from-rpm" || fail "the .deb and the .rpm carry different binaries"
    file -b "$work/kesgate-from-deb" | grep -q "$loader" || fail "the .deb's binary is not for $arch: $(file -b "$work/kesgate-from-deb")"
    depends=$(dpkg-deb -f "$deb" Depends)
    libc=$(printf '%s\n' "$depends" | tr ',' '\n' | sed -n 's/^ *libc6 (>= \([0-9.]*\)).*/\1/p')
    [ -n "$libc" ] || fail ".deb Depends names no libc6 version: $depends"
    le "$libc" "$floor" || fail ".deb Depends: libc6 (>= $libc), above the floor $floor"
    [ "$libc" = "$newest" ] || fail ".deb Depends: libc6 (>= $libc), but the binary needs GLIBC_$newest"
    # Every library the binary links comes with libc6 (else Depends must name its package).
    readelf -d "$work/kesgate-from-deb" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' >"$work/needed"
    while read -r lib; do
        case $lib in libc.so.6 | libpthread.so.0 | libdl.so.2 | libm.so.6 | librt.so.1 | ld-linux-*) ;;
            *) fail "the binary links $lib, which libc6 does not provide: add its package to Depends" ;;
        esac
    done <"$work/needed"
    rpm_glibc=$(rpm -qpR "$rpm" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n1)
    [ -n "$rpm_glibc" ] || fail ".rpm requires no versioned libc: $(rpm -qpR "$rpm" | tr '\n' ' ')"
    le "$rpm_glibc" "$floor" || fail ".rpm requires GLIBC_$rpm_glibc, above the floor $floor"
    [ "$rpm_glibc" = "$newest" ] || fail ".rpm requires GLIBC_$rpm_glibc, but the binary needs $newest"
    echo "glibc: binary needs GLIBC_$newest; .deb Depends libc6 (>= $libc); .rpm requires GLIBC_$rpm_glibc (floor $floor)"

    lintian -I --pedantic -E --fail-on error,warning "$deb" >"$work/lintian.txt" 2>&1 \
        || fail "lintian: $(cat "$work/lintian.txt")"
    ! grep -E '^[EW]: ' "$work/lintian.txt" || fail "lintian reports errors or warnings"
    echo "lintian: 0 errors, 0 warnings ($(grep -c '^I: ' "$work/lintian.txt" || true) informational)"
    rpmlint -c packaging/rpm/rpmlint.toml "$rpm" >"$work/rpmlint.txt" 2>&1 || fail "rpmlint: $(cat "$work/rpmlint.txt")"
    grep -q ' 0 errors, 0 warnings' "$work/rpmlint.txt" || fail "rpmlint: $(cat "$work/rpmlint.txt")"
    echo "rpmlint: 0 errors, 0 warnings"

    dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/deb-files"
    rpm -qpl "$rpm" >"$work/rpm-files"
    for f in /usr/bin/kesgate /usr/lib/systemd/system/kesgate.service \
        /usr/lib/systemd/system/kesgate-keys.service /usr/lib/systemd/system/kesgate-buckets.service \
        /usr/lib/systemd/system/kesgate-watch.service /usr/lib/systemd/system/kesgate-watch.timer \
        /usr/lib/systemd/system/minio.service.d/kesgate.conf /usr/lib/systemd/system/minio@.service.d/kesgate.conf \
        /usr/lib/systemd/system-preset/80-kesgate.preset \
        /usr/lib/systemd/catalog/kesgate.catalog /usr/share/doc/kesgate/examples/kesgate.toml \
        /usr/share/bash-completion/completions/kesgate /usr/share/fish/vendor_completions.d/kesgate.fish; do
        grep -qx "$f" "$work/deb-files" || fail ".deb lacks $f"
        grep -qx "$f" "$work/rpm-files" || fail ".rpm lacks $f"
    done
    grep -qx /usr/share/man/man8/kesgate.8.gz "$work/deb-files" || fail ".deb lacks the man page"
    grep -qx /usr/share/man/man8/kesgate.8.gz "$work/rpm-files" || fail ".rpm lacks the man page"
    grep -qx /usr/share/doc/kesgate/changelog.Debian.gz "$work/deb-files" || fail ".deb lacks the changelog"
    grep -qx /usr/share/doc/kesgate/copyright "$work/deb-files" || fail ".deb lacks the copyright"
    ! grep -E '^/etc/|kes-test-server|minio-stand-in' "$work/deb-files" "$work/rpm-files" \
        || fail "a package ships /etc or test code"
    [ -z "$(dpkg-deb -I "$deb" conffiles 2>/dev/null)" ] || fail "the .deb has conffiles"
    rpm -qp --scripts "$rpm" >"$work/rpm-scripts"
    grep -q 'preset kesgate-keys.service kesgate-buckets.service kesgate-watch.timer' "$work/rpm-scripts" || fail "rpm %post does not apply the preset"
    grep -q 'watch --remove-textfile' "$work/rpm-scripts" || fail "rpm %preun does not remove the metrics file"
    grep -qx 'enable kesgate-watch.timer' packaging/80-kesgate.preset || fail "the preset does not enable the watch timer"
    ! grep -Eq 'systemctl (--no-reload )?(start|restart)' "$work/rpm-scripts" || fail "rpm scripts start units"
    zcat target/assets/kesgate.8.gz | grep -q '^\.SS "kesgate preflight"' || fail "man page lacks preflight"
    zcat target/assets/kesgate.8.gz | grep -q '^\.SS "kesgate init"' || fail "man page lacks init"
    for page in man8/kesgate.8 man8/kesgate.service.8 man5/kesgate.toml.5; do
        grep -qx "/usr/share/man/$page.gz" "$work/deb-files" || fail ".deb lacks $page"
        grep -qx "/usr/share/man/$page.gz" "$work/rpm-files" || fail ".rpm lacks $page"
        mandoc -T lint -W warning "target/assets/$(basename "$page")" >"$work/mandoc.txt" 2>&1 \
            || fail "mandoc -T lint $page: $(cat "$work/mandoc.txt")"
    done
    # Every page the units' Documentation= and the pages' SEE ALSO name is
    # shipped, or is systemd's.
    for ref in $(grep -ho 'man:[a-z.-]*([0-9])' units/*.service units/*.timer | sort -u) \
        $(zcat target/assets/*.[58].gz | grep -o '^\.BR [a-z.-]* ([0-9])' | sed 's/^\.BR \([a-z.-]*\) (\([0-9]\))/man:\1(\2)/' | sort -u); do
        name=${ref#man:}; page=${name%(*}; sec=${name#*(}; sec=${sec%)}
        case $page in systemctl | journalctl | systemd.* ) continue ;; esac
        grep -qx "/usr/share/man/man$sec/$page.$sec.gz" "$work/deb-files" || fail "$ref is named but not shipped"
    done
    grep -q 'adopt' target/assets/kesgate.bash || fail "bash completion lacks init --adopt"
    # The alert rules shipped as an example: valid, and they fire as their tests say.
    grep -qx /usr/share/doc/kesgate/examples/kesgate-alerts.yml "$work/deb-files" || fail ".deb lacks the alert rules"
    grep -qx /usr/share/doc/kesgate/examples/kesgate-alerts.yml "$work/rpm-files" || fail ".rpm lacks the alert rules"
    promtool check rules packaging/prometheus/kesgate-alerts.yml >"$work/rules.txt" 2>&1 || fail "promtool check rules: $(cat "$work/rules.txt")"
    (cd packaging/prometheus && promtool test rules kesgate-alerts.test.yml) >"$work/rules-test.txt" 2>&1 \
        || fail "promtool test rules: $(cat "$work/rules-test.txt")"
    echo "alert rules: $(grep -c 'alert:' packaging/prometheus/kesgate-alerts.yml) rules checked and unit-tested by promtool"
    echo "packages: $(basename "$deb") ($(wc -l <"$work/deb-files") paths), $(basename "$rpm") ($(wc -l <"$work/rpm-files") paths)"
}

check_packages amd64 x86_64-unknown-linux-gnu amd64 x86_64 x86-64
# arm64 from this x86_64 machine: Debian's compiler and arm64 library
# (packaging/build says why), checked by the same rules.
check_packages arm64 aarch64-unknown-linux-gnu arm64 aarch64 'ARM aarch64'

