# kesgate %post: the macros.systemd equivalents, written out (nothing
# expands %systemd_* here). Units are enabled per preset on first install,
# never started by rpm; a running MinIO is not restarted.
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset kesgate-keys.service kesgate-buckets.service kesgate-watch.timer >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
# Where the operator puts kesgate.toml, the API key (0600) and the CA
# MinIO's user must read: the directory itself is 0755. An existing one is
# the operator's and left as it is.
[ -e /etc/kesgate ] || install -d -m 0755 -o root -g root /etc/kesgate

# Backups an older kesgate left readable by others (it kept the live API key
# in /etc/default/minio.kesgate-prev, mode 0644): owner-only now, and said
# once. Only in root-owned directories: kesgate itself tightens the others
# on its next run (through the directory's descriptor, never a path).
{ echo /etc/default/minio.kesgate-prev; echo /etc/minio/config.env.kesgate-prev; cat /var/lib/kesgate/backups 2>/dev/null || true; } | while IFS= read -r f; do
    case "$f" in /*.kesgate-prev) ;; *) continue ;; esac
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    [ "$(stat -c %u "$(dirname "$f")")" = 0 ] || continue
    if [ -n "$(find "$f" -maxdepth 0 -perm /077 2>/dev/null)" ]; then
        chmod go= "$f"
        if grep -q '^[[:space:]]*\(export[[:space:]]\+\)\?MINIO_KMS_KES_API_KEY' "$f" 2>/dev/null; then
            echo "kesgate: $f held the KES API key and was readable by others: made owner-only; rotate the API key (the old one may have been read)" >&2
        fi
    fi
done
