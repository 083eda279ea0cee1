#!/usr/bin/env bash
# System test: values rendered by `kesgate render` are read back by a real
# systemd exactly as configured (the tricky-values table), and the
# operator's own variables mean to systemd after rendering what they meant
# before.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
harness_init

API_KEY=$("$BIN" identity new | sed -n 2p)
boot_container "$work"
install_kesgate "$repo/tests/system/lib.sh" # any file will do as the CA: render does not connect
write_config 7373
# The operator's file: every quoting style systemd knows.
cat >"$CT_ROOT/etc/default/minio" <<'ENV'
# operator's settings
OP_DQ="a \"quoted\" \$HOME and \\ back"
OP_SQ='single $HOME \n raw'
  OP_PLAIN = spaced\ value  
OP_CONT=first\
second
; a semicolon comment
export OP_EXPORT=ignored
OP_UNICODE=ünïcødé ✓
OP_HASH=value # not a comment
MINIO_KMS_KES_KEY_NAME=will-be-replaced
ENV
python3 - "$CT_ROOT/etc/kesgate/kesgate.toml" "$work/expected.json" <<'PY'
import json, sys
values = {
    "T_EDGE_SPACES": "  leading and trailing  ",
    "T_DQUOTE": 'say "hi"',
    "T_SQUOTE": "it's",
    "T_DOLLAR": "$HOME",
    "T_BRACES": "${HOME}x",
    "T_BACKSLASH": "back\\slash",
    "T_TWO_BACKSLASHES": "a\\\\b",
    "T_TRAILING_BACKSLASH": "trailing\\",
    "T_HASH": "#not a comment",
    "T_EQUALS": "a=b=c",
    "T_SEMICOLON": "a;b",
    "T_BACKTICK": "`id`",
    "T_TAB": "tab\there",
    "T_UNICODE": "ünïcødé ✓ 日本",
    "T_QUERY": "?x=1&y=2",
    "T_EMPTY": "",
    "T_SPACE": " ",
    "T_BACKSLASH_N": "\\n is not a newline",
    "T_MIX": "mix \"$`\\'",
    "MINIO_OPTS": '--console-address ":9001"',
    "T_TRAILING_SPACE": "ends with space ",
}
with open(sys.argv[1], "a") as f:
    f.write("\n[env_file.set]\n")
    for k, v in values.items():
        f.write(f"{k} = {json.dumps(v, ensure_ascii=False)}\n")
json.dump(values, open(sys.argv[2], "w"))
PY

cat >"$CT_ROOT/etc/systemd/system/envdump.service" <<'UNIT'
[Service]
Type=oneshot
EnvironmentFile=/etc/default/minio
ExecStart=/usr/bin/env -0
StandardOutput=truncate:/var/tmp/env-dump
UNIT
ct systemctl daemon-reload

log "what systemd reads from the operator's file"
ct systemctl start envdump.service
cp "$CT_ROOT/var/tmp/env-dump" "$work/before"

log "kesgate render, then what systemd reads"
ct kesgate --log terminal render
ct systemctl start envdump.service
cp "$CT_ROOT/var/tmp/env-dump" "$work/after"
ct kesgate --log terminal render --check

python3 - "$work/before" "$work/after" "$work/expected.json" "$API_KEY" <<'PY'
import json, sys
def env(path):
    out = {}
    for item in open(path, "rb").read().split(b"\0"):
        if item:
            k, _, v = item.decode().partition("=")
            out[k] = v
    return out
before, after, expected, api_key = env(sys.argv[1]), env(sys.argv[2]), json.load(open(sys.argv[3])), sys.argv[4]
ops = {k: v for k, v in before.items() if k.startswith("OP_")}
assert ops == {
    "OP_DQ": 'a "quoted" $HOME and \\ back',
    "OP_SQ": "single $HOME \\n raw",
    "OP_PLAIN": "spaced value",
    "OP_CONT": "firstsecond",
    "OP_UNICODE": "ünïcødé ✓",
    "OP_HASH": "value # not a comment",
}, ops
for k, v in ops.items():
    assert after.get(k) == v, f"operator variable {k} changed: {after.get(k)!r} != {v!r}"
bad = {k: (after.get(k), v) for k, v in expected.items() if after.get(k) != v}
assert not bad, f"systemd read back different values: {bad}"
assert after["MINIO_KMS_KES_KEY_NAME"] == "minio-backend-default-key"
assert after["MINIO_KMS_KES_API_KEY"] == api_key
assert after["MINIO_KMS_KES_ENDPOINT"] == "https://localhost:7373"
print(f"  {len(expected)} tricky values and {len(ops)} operator variables read back exactly by systemd")
PY
echo "system-test: 1 passed, 0 failed"
