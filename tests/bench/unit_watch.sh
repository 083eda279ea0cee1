#!/usr/bin/env bash
# Benchmark (not a test): with KES as kes.service under a real systemd, how
# long from kes.service's ActiveEnterTimestamp — and from KES's first
# "listening" line — until `kesgate wait` is ready (READY=1 as systemd saw
# it), for the D-Bus watch ([wait] kes_unit, the default) against the
# polling path (kes_unit = "") in the same run. Release builds. Each run
# starts KES after the wait has polled long enough to be at its backoff cap
# (a long outage), as on a host whose KES was down for a while.
#
#   bash tests/bench/unit_watch.sh [RUNS]     (default 50 per path)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-50}
(cd "$repo" && cargo build --release --quiet --workspace)
export KESGATE_BIN=$repo/target/release/kesgate KES_TEST_SERVER_BIN=$repo/target/release/kes-test-server
. "$repo/tests/system/lib.sh"
. "$repo/tests/system/chain-lib.sh"
harness_init

chain_setup
boot_container "$work"
kes_unit "$KES_PORT" "$IDENTITY"
install -D -m 755 "$BIN" "$CT_ROOT/usr/bin/kesgate"
ct systemctl daemon-reload
ct systemctl start kes.service
wait_for_kes_listening
kesgate_credentials
for mode in watch poll; do
    unit_line=$([ $mode = poll ] && echo 'kes_unit = ""' || true)
    { kes_section; cat <<TOML; } >"$CT_ROOT/etc/kesgate/$mode.toml"

[wait]
timeout = "0"
$unit_line
TOML
done

: >"$work/results.tsv"
for i in $(seq 1 "$runs"); do
    for mode in watch poll; do
        ct systemctl stop kes.service
        u=kgw-$mode-$i
        ct systemd-run --unit="$u" --no-block -p Type=notify -p NotifyAccess=main -p RemainAfterExit=yes \
            /usr/bin/kesgate --config "/etc/kesgate/$mode.toml" wait >/dev/null 2>&1
        # At the backoff cap (1 s): the steady state of a long outage.
        wait_for_prop "$u.service" StatusText 'attempt ([6-9]|[1-9][0-9]+),' >/dev/null
        c=$(cursor)
        ct systemctl start kes.service
        wait_for_prop "$u.service" ActiveState '^active$' >/dev/null
        kes_active=$(unit_prop kes.service ActiveEnterTimestampMonotonic)
        ready=$(unit_prop "$u.service" ActiveEnterTimestampMonotonic)
        listen=$(ct journalctl --cursor "$c" _SYSTEMD_UNIT=kes.service -o json --no-pager \
            | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if "listening" in e.get("MESSAGE", ""):
        print(e["__MONOTONIC_TIMESTAMP"]); break')
        printf '%s\t%s\t%s\n' "$mode" "$((ready - kes_active))" "$((ready - listen))" >>"$work/results.tsv"
        ct systemctl stop "$u.service"
    done
done

python3 - "$work/results.tsv" "$runs" <<'PY'
import sys, statistics
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
print(f"kes.service started → kesgate wait ready (READY=1), {sys.argv[2]} runs per path, release builds")
print(f"{'path':6} {'from':22} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
for mode in ("watch", "poll"):
    for col, name in ((1, "ActiveEnterTimestamp"), (2, "first listen")):
        xs = [int(r[col]) / 1000 for r in rows if r[0] == mode]
        print(f"{mode:6} {name:22} {q(xs,50):7.1f}ms {q(xs,90):7.1f}ms {q(xs,99):7.1f}ms {max(xs):7.1f}ms")
PY
