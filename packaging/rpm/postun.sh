# kesgate %postun: forget the removed units and drop-in. Never touches
# /etc/default/minio: MinIO keeps the KES settings kesgate rendered.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 0 ]; then
    rm -rf /run/kesgate >/dev/null 2>&1 || :
    # Every backup kesgate made (listed in /var/lib/kesgate/backups; older
    # releases kept them at the two default places), then its state.
    { echo /etc/default/minio.kesgate-prev; echo /etc/minio/config.env.kesgate-prev; cat /var/lib/kesgate/backups 2>/dev/null || true; } | while IFS= read -r f; do
        case "$f" in /*.kesgate-prev) [ -L "$f" ] || rm -f "$f" ;; esac
    done
    rm -rf /var/lib/kesgate
fi
