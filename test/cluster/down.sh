#!/bin/bash
# down.sh NAME...|--all: stop node containers of up.sh and remove everything they left: processes (SIGKILL to
# the whole container at once: a graceful poweroff hangs on pod processes that ignore SIGTERM), mounts, cgroups
# (theirs and the kubelet's inside them), state dirs; with --all, or once no node is left, also the bridge and
# the host sysctls the kubelets changed. Safe to repeat and after a half-done up.sh.
set -uo pipefail
. "$(dirname "$0")/env.sh"
[ $# -gt 0 ] || die "usage: down.sh NAME...|--all"
[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$CRUN"
exec 9>"$CRUN/.lock"
flock 9

stop_one() {
	local N=$1 D=$CRUN/$1 t g p fz="" i
	[ -d "$D" ] || return 0
	t=$(now)
	# freeze, SIGKILL every process in the node's cgroups except systemd-nspawn, thaw: nothing can fork in between
	for g in $(cat "$D/cgroups" 2>/dev/null); do [ -f "$g/freezer.state" ] && fz=$g; done
	local ns
	ns=$(cat "$D/nspawn.pid" 2>/dev/null)
	if [ -n "$fz" ] && [ -d "$fz" ]; then
		echo FROZEN >"$fz/freezer.state"
		for p in $(find "$fz" -name cgroup.procs -exec cat {} + 2>/dev/null); do [ "$p" = "$ns" ] || kill -9 "$p" 2>/dev/null; done
		echo THAWED >"$fz/freezer.state"
	fi
	if [ -n "$ns" ]; then
		for i in $(seq 1 200); do kill -0 "$ns" 2>/dev/null || break; sleep 0.05; done
		kill -0 "$ns" 2>/dev/null && grep -qs "/gpuctl-e2e/$N" "/proc/$ns/cgroup" && kill -9 "$ns"
	fi
	for g in $(cat "$D/cgroups" 2>/dev/null); do
		[ -d "$g" ] || continue
		for p in $(find "$g" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	done
	sleep 0.2
	awk -v d="$D/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	for g in $(cat "$D/cgroups" 2>/dev/null); do
		for i in 1 2 3 4 5; do
			[ -d "$g" ] || break
			find "$g" -depth -type d -exec rmdir {} + 2>/dev/null
			sleep 0.2
		done
		[ -d "$g" ] && echo "down: $N: cgroup $g still busy" >&2
	done
	rmdir "/run/systemd/nspawn/propagate/$N" 2>/dev/null
	if awk -v d="$D/" 'index($2, d) == 1' /proc/mounts | grep -q .; then
		echo "down: $N: mounts still busy under $D, keeping it" >&2
		return 1
	fi
	rm -rf "$D"
	echo "down: $N in $(elapsed "$t")s" >&2
}

names=()
if [ "$1" = --all ]; then
	for d in "$CRUN"/*/; do [ -d "$d" ] && names+=("$(basename "$d")"); done
else
	names=("$@")
fi
rc=0
for n in "${names[@]}"; do
	[[ $n =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || { echo "down: bad node name '$n'" >&2; rc=1; continue; }
	stop_one "$n" || rc=1
done
if ! ls -d "$CRUN"/*/ >/dev/null 2>&1; then
	if [ -f "$CRUN/sysctl.orig" ]; then
		while read -r k v; do echo "$v" >"/proc/sys/$k"; done <"$CRUN/sysctl.orig"
		rm -f "$CRUN/sysctl.orig"
	fi
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
	for h in /sys/fs/cgroup/*/; do
		for g in "$h"gpuctl-e2e "$h"*/gpuctl-e2e; do [ -d "$g" ] && rmdir "$g" 2>/dev/null; done
	done
fi
exit $rc
