#!/usr/bin/env bash
# README's recipes, run as written on a booted host, so the documentation
# cannot rot: the Install line (apt, with the package's real file name) on a
# host that runs MinIO with KES set up by hand from the runbook, then every
# block README marks <!-- quickstart --> verbatim, in order, each with
# `set -e` — the last one ends with `kesgate status`, which must exit 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/chain-lib.sh"
harness_init

# The fenced block after each marker, in README's order, one file each.
python3 - "$repo/README.md" "$work" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"<!-- quickstart -->\n```sh\n(.*?)```", text, re.S)
assert blocks, "README marks no quick-start block"
for i, b in enumerate(blocks):
    open(f"{sys.argv[2]}/quickstart-{i}.sh", "w").write(b)
install = re.search(r"## Install\n.*?```sh\n(apt install [^\n#]*)", text, re.S)
assert install, "README's Install section has no apt line"
open(f"{sys.argv[2]}/install.sh", "w").write(install.group(1).strip() + "\n")
PY

chain_setup
build_deb
log "a host that runs MinIO with KES set up by hand (the runbook), MinIO active"
hand_made_host

log "README, Install: $(cat "$work/install.sh")"
cp "$DEB" "$CT_ROOT/root/"
ct bash -ec "cd /root && $(cat "$work/install.sh")" </dev/null >"$work/install.log" 2>&1 \
    || die "README's Install line failed: $(tail -20 "$work/install.log")"
[ -d "$CT_ROOT/etc/kesgate" ] || die "the package did not create /etc/kesgate"

for block in "$work"/quickstart-*.sh; do
    log "README, quick start: $(grep -c . "$block") commands"
    sed 's/^/   $ /' "$block"
    cp "$block" "$CT_ROOT/root/block.sh"
    ct bash -e /root/block.sh </dev/null >"$work/block.log" 2>&1 \
        || die "README's quick start failed at $(basename "$block"): $(tail -30 "$work/block.log")"
    ! grep -qF "$API_KEY" "$work/block.log" || die "the quick start printed the API key"
done
[ "$(unit_prop minio.service ActiveState)" = active ] || die "MinIO is not active after the quick start"
[[ $(unit_prop minio.service StatusText) == *"MinIO's own view"* ]] || die "the restart was not gated"
echo "readme: the Install line and $(ls "$work"/quickstart-*.sh | wc -l) quick-start blocks ran as written; kesgate status exit 0"
