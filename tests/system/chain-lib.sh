# shellcheck shell=bash
# The MinIO boot chain in the container, shared by boot-chain.sh and the
# demo: KES test server as kes.service (a real OpenBao on the host as its
# key store), the MinIO stand-in as minio.service shaped like upstream's
# unit, kesgate installed from its .deb. Sourced after lib.sh.

# MESSAGE_IDs (src/logging.rs)
ID_KES_READY=8f0d89a983d443ceb1ea0f826d7aa62c
ID_KES_NOT_READY=23c27382dbae471291e0a4c2b4c1e9a4
ID_WAIT_GAVE_UP=ef8a6507387d4e0a965fefbef281864f
ID_IDENTITY_REJECTED=ee8891ccb1a7414b8fee2c21e78ce9fc
ID_ENV_CHANGED=4eda8be2440c490194d2349d2f1f173d
ID_KEY_CREATED=e42f27573bcd47938ac5591b166a3bea
ID_BUCKET_OUTCOME=70b3d776c8784eb7a7a13d7e8b943091
ID_VAULT_STATE=2322fb094bdb47ec83d2c5fbf3ffcf24

# chain_setup: a fresh API key and its identity, ports for KES and MinIO,
# and a real OpenBao on the host, initialised and unsealed.
chain_setup() {
    API_KEY=$("$BIN" identity new | sed -n 2p)
    IDENTITY=$(printf '%s' "$API_KEY" | "$BIN" identity of - | tail -n1)
    KES_PORT=$(free_port)
    MINIO_PORT=$(free_port)
    start_openbao "$work" "$(free_port)"
    unseal_openbao
}

# chain_host: a booted container that runs KES (kes.service, listening)
# and has MinIO's unit and env file as the runbook leaves them (MinIO not
# started yet).
chain_host() {
    boot_container "$work"
    kes_unit "$KES_PORT" "$IDENTITY"
    minio_unit "$MINIO_PORT"
    ct systemctl daemon-reload
    # As the runbook says: KES first, then MinIO.
    ct systemctl enable --now kes.service >/dev/null 2>&1
    wait_for_kes_listening
}

# hand_made_host: the host the manual runbook leaves (chain_host), with
# MinIO started and active.
hand_made_host() {
    chain_host
    ct systemctl enable --now minio.service >/dev/null 2>&1 || die "MinIO did not start: $(ct journalctl -u minio -n 20 --no-pager)"
    wait_for_prop minio.service ActiveState '^active$' >/dev/null
}

# build_deb: the release .deb (packaging/build deb), or $KESGATE_DEB.
build_deb() {
    if [ -n "${KESGATE_DEB:-}" ]; then DEB=$KESGATE_DEB; return; fi
    (cd "$repo" && packaging/build deb >"$work/build-deb.log" 2>&1) \
        || die "packaging/build deb failed: $(tail -20 "$work/build-deb.log")"
    DEB=$(ls -t "$repo"/target/"$(rustc -vV | sed -n 's/^host: //p')"/debian/kesgate_*.deb | head -n1)
}

# kes_unit PORT IDENTITY: the KES test server as kes.service, shaped like
# the KES docs' unit (simple, Restart=always), OpenBao on the host behind it.
kes_unit() {
    install -D -m 755 "$KES_BIN" "$CT_ROOT/usr/local/bin/kes"
    # /etc/kes/tls/ca.pem must be readable by minio-user (MINIO_KMS_KES_CAPATH).
    install -d -m 755 "$CT_ROOT/etc/kes"
    install -m 600 "$work/bao-token" "$CT_ROOT/etc/kes/bao-token"
    local paths=/v1/ready,/v1/status,/v1/key/create/*,/v1/key/describe/*,/v1/key/generate/*,/v1/key/decrypt/*
    cat >"$CT_ROOT/etc/systemd/system/kes.service" <<UNIT
[Unit]
Description=KES (kesgate's test server)
After=network-online.target

[Service]
ExecStart=/usr/local/bin/kes --listen 127.0.0.1:$1 --tls-dir /etc/kes/tls --policy minio=$2:$paths --openbao $BAO_ADDR --openbao-token-file /etc/kes/bao-token
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
}

# minio_unit PORT: the MinIO stand-in as /usr/local/bin/minio under
# upstream's unit (minio/minio-service linux-systemd/minio.service) at the
# package's location, and the operator's /etc/default/minio from the manual
# runbook: KES variables pasted by hand next to MinIO's own settings.
minio_unit() {
    install -D -m 755 "$TEST_BINS/minio-stand-in" "$CT_ROOT/usr/local/bin/minio"
    ct useradd --system --no-create-home --shell /usr/sbin/nologin minio-user
    cat >"$CT_ROOT/lib/systemd/system/minio.service" <<'UNIT'
[Unit]
Description=MinIO
Documentation=https://min.io/docs/minio/linux/index.html
Wants=network-online.target
After=network-online.target
AssertFileIsExecutable=/usr/local/bin/minio
AssertFileNotEmpty=/etc/default/minio

[Service]
Type=notify
WorkingDirectory=/usr/local
User=minio-user
Group=minio-user
ProtectProc=invisible
EnvironmentFile=/etc/default/minio
ExecStart=/usr/local/bin/minio server $MINIO_OPTS $MINIO_VOLUMES
Restart=always
LimitNOFILE=1048576
TasksMax=infinity
TimeoutSec=infinity
SendSIGKILL=no

[Install]
WantedBy=multi-user.target
UNIT
    MINIO_PASSWORD=$(head -c 18 /dev/urandom | base64)
    cat >"$CT_ROOT/etc/default/minio" <<ENV
# MinIO settings (the operator's)
MINIO_VOLUMES="/var/lib/minio"
MINIO_OPTS="--address :$1 --console-address :9001"
MINIO_ROOT_USER=minio-admin
MINIO_ROOT_PASSWORD="$MINIO_PASSWORD"
# KES, pasted by hand from the runbook
MINIO_KMS_KES_ENDPOINT=https://localhost:$KES_PORT
MINIO_KMS_KES_KEY_NAME=minio-backend-default-key
MINIO_KMS_KES_API_KEY=$API_KEY
MINIO_KMS_KES_CAPATH=/etc/kes/tls/ca.pem
ENV
    chmod 600 "$CT_ROOT/etc/default/minio"
}

# kesgate_credentials: /etc/kesgate with the API key (0600) and KES's CA
# (readable by minio-user: MinIO reads it through MINIO_KMS_KES_CAPATH).
kesgate_credentials() {
    install -d -m 755 "$CT_ROOT/etc/kesgate"
    install -m 644 "$CT_ROOT/etc/kes/tls/ca.pem" "$CT_ROOT/etc/kesgate/kes-ca.pem"
    (umask 077; printf '%s\n' "$API_KEY" >"$CT_ROOT/etc/kesgate/kes-api-key")
}

# kes_section: the [kes] table for those credentials and kes.service.
kes_section() {
    cat <<TOML
[kes]
endpoints = ["https://localhost:$KES_PORT"]
api_key_file = "/etc/kesgate/kes-api-key"
ca = "/etc/kesgate/kes-ca.pem"
default_key = "minio-backend-default-key"
TOML
}

# kesgate_config MINIO_PORT: what the operator writes after installing the
# package: the API key, KES's CA (readable by minio-user: MinIO reads it
# through MINIO_KMS_KES_CAPATH), kesgate.toml with seeding and tricky values.
kesgate_config() {
    kesgate_credentials
    { kes_section; echo; more_sections "$1"; } >"$CT_ROOT/etc/kesgate/kesgate.toml"
}

# kesgate_adopt MINIO_PORT: what the operator does after installing the
# package on a host set up by hand: `kesgate init --adopt` turns the KES
# lines pasted into /etc/default/minio into kesgate.toml and
# /etc/kesgate/kes-api-key — nothing MinIO reads changes (render --check
# is 0, render writes no byte: same inode, same mtime) — then adds what
# adoption cannot know: seeding, [env_file.set], [vault].
kesgate_adopt() {
    local before
    before=$(stat -c '%i %Y %s' "$CT_ROOT/etc/default/minio")
    ct kesgate init --adopt >"$work/init-adopt.log" 2>&1 || die "kesgate init --adopt: $(cat "$work/init-adopt.log")"
    ! grep -qF "$API_KEY" "$work/init-adopt.log" || die "init --adopt printed the API key"
    [ "$(stat -c %a "$CT_ROOT/etc/kesgate/kes-api-key")" = 600 ] || die "the adopted key file is not 0600"
    ct kesgate render --check >"$work/check-adopt.log" 2>&1 || die "render --check after adoption: $(cat "$work/check-adopt.log")"
    ct kesgate render >"$work/render-adopt.log" 2>&1 || die "render after adoption: $(cat "$work/render-adopt.log")"
    [ "$(stat -c '%i %Y %s' "$CT_ROOT/etc/default/minio")" = "$before" ] || die "render changed /etc/default/minio after adoption"
    { echo; more_sections "$1"; } >>"$CT_ROOT/etc/kesgate/kesgate.toml"
}

# more_sections MINIO_PORT: seeding, tricky [env_file.set] values, [vault].
more_sections() {
    cat <<TOML
[wait]
timeout = "3s"
max_interval = "500ms"

[env_file.set]
KESGATE_TEST_QUOTES = 'say "hi" and \`ls\` for \$HOME'
KESGATE_TEST_SPACES = '  padded  '
KESGATE_TEST_BACKSLASH = 'C:\\dir\\ and a trailing \\'
KESGATE_TEST_HASH = '#not a comment; a=b=c'
KESGATE_TEST_UNICODE = 'grüße ✓'

[minio]
endpoint = "http://127.0.0.1:$1"

# The Vault behind KES, for the diagnosis (no token).
[vault]
address = "$BAO_ADDR"

[[keys]]
name = "bucket-key"

[[buckets]]
name = "encrypted"
key = "bucket-key"
create = true
TOML
}

# wait_for_kes_listening: polls (bounded) until kes.service accepts connections.
wait_for_kes_listening() {
    local i
    for i in $(seq 1 600); do
        # KES wants a client certificate; a TCP connect is the honest probe.
        (exec 3<>"/dev/tcp/127.0.0.1/$KES_PORT") 2>/dev/null && return
        sleep 0.05
    done
    die "kes.service does not listen on $KES_PORT: $(ct journalctl -u kes -n 20 --no-pager)"
}

# set_wait_timeout VALUE: [wait] timeout in the container's kesgate.toml.
set_wait_timeout() { sed -i "s/^timeout = .*/timeout = \"$1\"/" "$CT_ROOT/etc/kesgate/kesgate.toml"; }

# cursor: the journal's current position, for counting what comes after.
cursor() { ct journalctl -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p'; }

# wait_for_kesgate_line CURSOR TEXT: polls (bounded) until kesgate logged a
# line containing TEXT since CURSOR. Matched by the identifier, not the unit:
# journald attributes a datagram to a unit by reading the sender's cgroup
# when it reads the datagram, so the entries of a process that exits within
# milliseconds (a preflight that has nothing to do) may carry no unit.
wait_for_kesgate_line() {
    local i
    for i in $(seq 1 400); do
        ct journalctl --cursor "$1" SYSLOG_IDENTIFIER=kesgate --no-pager -q | grep -qF -- "$2" && return 0
        sleep 0.05
    done
    return 1
}

# count_entries CURSOR UNIT MESSAGE_ID: kesgate's entries with that ID that
# UNIT's processes logged since CURSOR. (--cursor, not --after-cursor: with
# matches, journalctl 252 skips the first *matching* entry after the cursor;
# the cursor's own entry is an earlier, unrelated one.)
count_entries() {
    # -o json: one line per entry, however many lines its MESSAGE has.
    ct journalctl --cursor "$1" "_SYSTEMD_UNIT=$2" "MESSAGE_ID=$3" -o json --no-pager | wc -l
}

# not_ready_kinds CURSOR UNIT: the KESGATE_ERROR_KIND of each "not ready"
# entry UNIT logged since CURSOR, space-separated; dies when one state is
# told twice in a row (an entry per retry instead of per change).
not_ready_kinds() {
    ct journalctl --cursor "$1" "_SYSTEMD_UNIT=$2" "MESSAGE_ID=$ID_KES_NOT_READY" -o json --no-pager \
        | python3 -c '
import json, sys
kinds = [json.loads(l).get("KESGATE_ERROR_KIND") for l in sys.stdin]
print(" ".join(kinds))
sys.exit(any(a == b for a, b in zip(kinds, kinds[1:])))' \
        || die "$2 told the same state again: one journal entry per retry, not per change"
}

# monotonic_us: CLOCK_MONOTONIC in µs; the container shares the kernel, so
# this compares with systemd's *TimestampMonotonic properties.
monotonic_us() { python3 -c 'import time; print(time.monotonic_ns() // 1000)'; }

# main_env NAME: NAME's value in the environment of minio.service's process.
main_env() {
    local pid
    pid=$(unit_prop minio.service MainPID)
    ct cat "/proc/$pid/environ" | python3 -c '
import sys
name = sys.argv[1].encode()
for item in sys.stdin.buffer.read().split(b"\0"):
    k, _, v = item.partition(b"=")
    if k == name:
        sys.stdout.write(v.decode())
        sys.exit(0)
sys.exit(1)' "$1"
}
