# kesgate %postun: forget the removed units and drop-in. Never touches
# /etc/default/minio: MinIO keeps the KES settings kesgate rendered.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 0 ]; then
    rm -rf /run/kesgate >/dev/null 2>&1 || :
fi
