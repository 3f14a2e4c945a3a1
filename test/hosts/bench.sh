#!/bin/bash
# bench.sh [ROUNDS]: measure test-host start/stop times and print a table (seconds, median of ROUNDS).
# Uses host names bench-*; needs a built image (build.sh).
set -euo pipefail
HOSTS_DIR=$(cd "$(dirname "$0")" && pwd)
. "$HOSTS_DIR/lib.sh"
ROUNDS=${1:-3}
med() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
timeit() { local t; t=$(now); "$@" >/dev/null 2>&1 || { echo "bench: $* failed" >&2; return 1; }; elapsed "$t"; }
par() { # par CMD NAME...: run CMD NAME for every NAME at once
	local cmd=$1 pids=() n; shift
	for n in "$@"; do "$HOSTS_DIR/$cmd" "$n" $EXTRA & pids+=($!); done
	for n in "${pids[@]}"; do wait "$n"; done
}
row() { printf '%-44s %8s\n' "$1" "$2"; }
declare -A r
for i in $(seq 1 "$ROUNDS"); do
	r[s1]+="$(EXTRA= timeit "$HOSTS_DIR/start.sh" bench-a) "
	r[ssh]+="$(timeit "$HOSTS_DIR/ssh" bench-a true) "
	r[p1]+="$(timeit "$HOSTS_DIR/stop.sh" bench-a) "
	r[s3]+="$(EXTRA= timeit par start.sh bench-a bench-b bench-c) "
	r[p3]+="$(EXTRA= timeit par stop.sh bench-a bench-b bench-c) "
	if [ -f "$CACHE/current/vm/READY" ] && [ "${NO_VM:-0}" = 0 ]; then
		r[v1]+="$(timeit "$HOSTS_DIR/start.sh" bench-v --vm) "
		r[vssh]+="$(timeit "$HOSTS_DIR/ssh" bench-v true) "
		r[vp]+="$(timeit "$HOSTS_DIR/stop.sh" bench-v) "
	fi
done
printf '%-44s %8s\n' "test hosts, median of $ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))" "seconds"
row "start 1 nspawn host (to first ssh login)" "$(tr ' ' '\n' <<<"${r[s1]}" | grep . | med)"
row "ssh root@host true (nspawn)" "$(tr ' ' '\n' <<<"${r[ssh]}" | grep . | med)"
row "stop 1 nspawn host" "$(tr ' ' '\n' <<<"${r[p1]}" | grep . | med)"
row "start 3 nspawn hosts in parallel" "$(tr ' ' '\n' <<<"${r[s3]}" | grep . | med)"
row "stop 3 nspawn hosts in parallel" "$(tr ' ' '\n' <<<"${r[p3]}" | grep . | med)"
if [ -n "${r[v1]:-}" ]; then
	row "start 1 VM (clone of pre-booted template)" "$(tr ' ' '\n' <<<"${r[v1]}" | grep . | med)"
	row "ssh root@vm true" "$(tr ' ' '\n' <<<"${r[vssh]}" | grep . | med)"
	row "stop 1 VM" "$(tr ' ' '\n' <<<"${r[vp]}" | grep . | med)"
fi
