# kesgate %preun: on erase (not upgrade) disable and stop kesgate's units.
# MinIO keeps running: its drop-in only Wants= kesgate.service.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now kesgate-keys.service kesgate-buckets.service kesgate-watch.timer >/dev/null 2>&1 || :
    systemctl --no-reload stop kesgate-watch.service >/dev/null 2>&1 || :
    # node_exporter must not go on serving the last values as current.
    /usr/bin/kesgate watch --remove-textfile --log terminal || :
    systemctl --no-reload stop kesgate.service >/dev/null 2>&1 || :
fi
