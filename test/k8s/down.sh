#!/bin/bash
# Stops what up.sh started, by recorded pid only, and removes etcd's tmpfs data.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"
for c in kwok scheduler kcm apiserver etcd; do
	f=$RUN/pids/$c.pid
	[ -f "$f" ] || continue
	pid=$(cat "$f")
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	rm -f "$f"
done
if [ -f "$RUN/etcd.dir" ]; then
	d=$(cat "$RUN/etcd.dir")
	case "$d" in /dev/shm/gpuctl-k8s-etcd.*) rm -rf "$d" ;; esac
	rm -f "$RUN/etcd.dir"
fi
# The watchdog calls down.sh itself; only stop it when someone else called.
if [ -f "$RUN/watchdog.pid" ]; then
	w=$(cat "$RUN/watchdog.pid"); rm -f "$RUN/watchdog.pid"
	[ "$w" != "$PPID" ] && kill "$w" 2>/dev/null
fi
exit 0
