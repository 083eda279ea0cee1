# kesgate %post: the macros.systemd equivalents, written out (nothing
# expands %systemd_* here). Units are enabled per preset on first install,
# never started by rpm; a running MinIO is not restarted.
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset kesgate-keys.service kesgate-buckets.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
