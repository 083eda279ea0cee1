# kesgate %preun: on erase (not upgrade) disable and stop kesgate's units.
# MinIO keeps running: its drop-in only Wants= kesgate.service.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now kesgate-keys.service kesgate-buckets.service >/dev/null 2>&1 || :
    systemctl --no-reload stop kesgate.service >/dev/null 2>&1 || :
fi
