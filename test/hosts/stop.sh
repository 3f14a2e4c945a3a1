#!/bin/bash
# stop.sh NAME...|--all|--stale: stop test hosts and remove everything they left: processes, mounts,
# cgroups, address slots, state dirs. Safe to repeat and safe after a failed or half-done start.
#   --all    every host under the cache's run/ dir
#   --stale  hosts whose owner (GPUCTL_HOSTS_OWNER at start) is no longer running
set -uo pipefail
HOSTS_DIR=$(cd "$(dirname "$0")" && pwd)
. "$HOSTS_DIR/lib.sh"
[ $# -gt 0 ] || die "usage: stop.sh NAME...|--all|--stale"

# in_cgroups PID DIR: PID belongs to this host (guards against a recycled pid).
in_cgroups() { grep -qs "/gpuctl-hosts/$(basename "$2")\(/\|$\)" "/proc/$1/cgroup"; }

kill_cgroups() { # every process left in the host's cgroups
	local g p
	for g in $(cat "$1/cgroups" 2>/dev/null); do
		[ -d "$g" ] || continue
		[ -f "$g/freezer.state" ] && echo THAWED >"$g/freezer.state" 2>/dev/null
		for p in $(find "$g" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	done
}

stop_one() {
	local name=$1 D=$RUN/$1 t i p
	[ -d "$D" ] || return 0
	t=$(now)
	# nspawn: SIGKILL to every process of the container takes it down in ~0.1 s (poweroff would take
	# seconds and can hang on processes a test left behind); systemd-nspawn then exits by itself.
	kill_payload "$D"
	p=$(cat "$D/nspawn.pid" 2>/dev/null)
	if [ -n "$p" ]; then
		for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill_cgroups "$D"
		kill -0 "$p" 2>/dev/null && in_cgroups "$p" "$D" && kill -9 "$p" 2>/dev/null
	fi
	kill_cgroups "$D"
	# vm: qemu holds nothing but its files
	p=$(cat "$D/qemu.pid" 2>/dev/null)
	if [ -n "$p" ] && grep -qsF "$D/" "/proc/$p/cmdline"; then
		kill -9 "$p" 2>/dev/null
		for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
	fi
	# mounts, deepest first; lazy so a busy one cannot block the rest
	awk -v d="$D/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	for g in $(cat "$D/cgroups" 2>/dev/null); do
		[ -d "$g" ] && find "$g" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$g" ] && echo "stop.sh: $name: cgroup $g still busy" >&2
	done
	rmdir "/run/systemd/nspawn/propagate/$name" 2>/dev/null
	p=$(cat "$D/slot" 2>/dev/null)
	[ -n "$p" ] && [ "$(cat "$SLOTS/$p/owner" 2>/dev/null)" = "$name" ] && rm -rf "${SLOTS:?}/$p"
	if awk -v d="$D/" 'index($2, d) == 1' /proc/mounts | grep -q .; then
		echo "stop.sh: $name: mounts still busy under $D, keeping it" >&2
		return 1
	fi
	rm -rf "$D"
	echo "stop: $name in $(elapsed "$t")s" >&2
}

names=()
case $1 in
--all | --stale)
	for d in "$RUN"/*/; do
		[ -d "$d" ] || continue
		n=$(basename "$d")
		if [ "$1" = --stale ]; then
			o=$(cat "$d/owner" 2>/dev/null)
			[ -n "$o" ] && kill -0 "$o" 2>/dev/null && continue
			[ -z "$o" ] && continue # started by hand: only --all or its name stops it
		fi
		names+=("$n")
	done
	;;
*) names=("$@") ;;
esac

rc=0
for n in "${names[@]}"; do
	[[ $n =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || { echo "stop.sh: bad host name '$n'" >&2; rc=1; continue; }
	stop_one "$n" || rc=1
done
if [ "$1" = --all ]; then
	# slots whose host is gone (a crash between allocation and the state dir)
	for s in "$SLOTS"/*/; do
		[ -d "$s" ] || continue
		[ -d "$RUN/$(cat "$s/owner" 2>/dev/null)" ] || rm -rf "$s"
	done
	if ip link show "$BRIDGE" >/dev/null 2>&1 && ! ls "$RUN"/*/mode >/dev/null 2>&1; then
		ip link del "$BRIDGE"
	fi
fi
exit $rc
