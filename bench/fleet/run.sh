#!/bin/bash
# bench/fleet/run.sh [N...] (default 50 100 200): the node-prep play (node-prep.yaml: swap, kernel, apt
# from a local repository, containerd config and bench/ansible's 20 generic tasks; 31 tasks) on N real
# test hosts with gpuctl and with Debian's ansible-playbook (pipelining, ControlPersist, same forks),
# side by side in one run. Prints, per N: converge, idempotent re-run and check wall times of both
# tools, the ratio, gpuctl's peak RSS and most open fds, and the times per host (the curve). It also
# runs gpuctl with two --forks values and diffs the per-host results (JSON output): they must match.
#
# Hosts are test/hosts nspawn containers over the shared read-only image plus bench/fleet/layer.sh's
# layer (python3 for ansible, a swap line in fstab); each host's own writes go to its overlay upper dir.
# Sizes run one after another and each size's hosts are stopped before the next starts. Needs root.
#
#   FORKS (10, gpuctl's default; ansible gets the same)   FORKS2 (50): the second --forks for the diff
#   ANSIBLE_FULL_MAX (50): up to this N ansible converges, re-runs and checks its own fresh hosts;
#     above it ansible only re-runs over gpuctl's converged hosts (same play, so it must report no
#     change), for time. ANSIBLE_MAX (200): no ansible above this N.
#   START_PAR (6): hosts started at once.   OUT (bench/fleet/results): where the results go.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/fleet
cd "$ROOT"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(50 100 200)
FORKS=${FORKS:-10} FORKS2=${FORKS2:-50}
ANSIBLE_FULL_MAX=${ANSIBLE_FULL_MAX:-50} ANSIBLE_MAX=${ANSIBLE_MAX:-200}
START_PAR=${START_PAR:-6}
OUT=${OUT:-$HERE/results}
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--buildvcs=false} CGO_CFLAGS=${CGO_CFLAGS:--Wno-deprecated-declarations}
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (test hosts)" >&2; exit 1; }

W=$(mktemp -d /tmp/gpuctl-fleetbench.XXXX)
TAG=fb$$
: >"$W/started"
HTTP_PID=""
stop_hosts() { # stop_hosts NAMES_FILE
	xargs -r -P 8 -n 4 bash test/hosts/stop.sh <"$1" >/dev/null 2>>"$W/stop.err" || true
}
cleanup() {
	stop_hosts "$W/started"
	[ -z "$HTTP_PID" ] || kill "$HTTP_PID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash test/hosts/build.sh --no-vm >/dev/null
LAYER=$(bash "$HERE/layer.sh")
go build -o "$W/gpuctl" .
PB=$HERE/node-prep.yaml

# The local apt repository, on this machine's loopback, which nspawn hosts share.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$LAYER/repo" "$PORT" >/dev/null 2>&1 &
HTTP_PID=$!
REPO=http://127.0.0.1:$PORT/

cat >"$W/ansible.cfg" <<C
[defaults]
forks = $FORKS
host_key_checking = True
interpreter_python = /usr/bin/python3
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=300s
C

# start_set SET N: start N hosts and write the inventory $W/SET.yaml for both tools.
start_set() {
	local set=$1 n=$2 inv=$W/$1.yaml kh=$W/$1.known_hosts name
	seq 1 "$n" | sed "s/^/$TAG-$set-/" >"$W/$set.names"
	cat "$W/$set.names" >>"$W/started" # before starting: a half-done start is stopped too
	mkdir -p "$W/env"
	export GPUCTL_HOSTS_LOWER=$LAYER/layer GPUCTL_HOSTS_OWNER=$$ W
	local t0=$SECONDS
	if ! xargs -P "$START_PAR" -I{} bash -c 'test/hosts/start.sh {} >"$W/env/{}" 2>"$W/env/{}.err"' <"$W/$set.names"; then
		echo "run.sh: starting hosts failed:" >&2
		cat "$W"/env/*.err | grep -v '^start:' | tail -20 >&2
		exit 1
	fi
	: >"$kh"
	printf 'all:\n  vars:\n    bench_repo: %s\n    ansible_user: root\n    ansible_ssh_private_key_file: %s\n    gpuctl_known_hosts: %s\n    ansible_ssh_common_args: "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes"\n  hosts:\n' \
		"$REPO" /var/cache/gpuctl-hosts/id_ed25519 "$kh" "$kh" >"$inv"
	while read -r name; do
		cat "$(sed -n 's/^KNOWN_HOSTS=//p' "$W/env/$name")" >>"$kh"
		printf '    %s:\n      ansible_host: %s\n' "$name" "$(sed -n 's/^ADDR=//p' "$W/env/$name")" >>"$inv"
	done <"$W/$set.names"
	echo "started $n hosts ($set) in $((SECONDS - t0)) s" >&2
}

# gpuctl_phase SET LABEL FORKS [ARGS...]: one timed gpuctl run (JSON lines in $W/LABEL.json); sets
# T (wall s), M (max RSS, MB) and FD (most open fds, polled every 50 ms).
gpuctl_phase() {
	local set=$1 label=$2 forks=$3 tp gp="" c
	shift 3
	/usr/bin/time -f '%e %M' -o "$W/$label.time" "$W/gpuctl" run "$PB" -i "$W/$set.yaml" --forks "$forks" -o json "$@" \
		>"$W/$label.json" 2>"$W/$label.err" &
	tp=$!
	FD=0
	while kill -0 "$tp" 2>/dev/null; do
		[ -n "$gp" ] || gp=$(pgrep -P "$tp" || true)
		if [ -n "$gp" ]; then
			c=$(ls "/proc/$gp/fd" 2>/dev/null | wc -l || true)
			[ "$c" -le "$FD" ] || FD=$c
		fi
		sleep 0.05
	done
	if ! wait "$tp"; then
		echo "run.sh: gpuctl $label failed:" >&2
		tail -5 "$W/$label.err" >&2
		jq -c 'select(.status=="failed" or .status=="unreachable") | {host,task,msg}' "$W/$label.json" | head -5 >&2
		exit 1
	fi
	read -r T M <"$W/$label.time"
	M=$(awk -v k="$M" 'BEGIN{printf "%.0f", k/1024}')
}

# ansible_phase SET LABEL [ARGS...]: one timed ansible-playbook run; sets T.
ansible_phase() {
	local set=$1 label=$2
	shift 2
	if ! ANSIBLE_CONFIG=$W/ansible.cfg /usr/bin/time -f '%e %M' -o "$W/$label.time" \
		ansible-playbook -i "$W/$set.yaml" "$PB" "$@" >"$W/$label.log" 2>&1; then
		echo "run.sh: ansible-playbook $label failed:" >&2
		grep -E 'fatal|FAILED|UNREACHABLE' "$W/$label.log" | head -5 >&2
		exit 1
	fi
	read -r T _ <"$W/$label.time"
}

# results LABEL SET: per-host results of a JSON run, one line per host and task, host names made
# set-neutral, times left out: what must not depend on --forks.
results() {
	jq -r 'select(.host != null and .status != null and .status != "") |
		[.host, .task, (.item // "" | tostring), .status, (.msg // ""), (.diff // "" | tostring)] | @tsv' "$W/$1.json" |
		sed "s/$TAG-$2-/H/g" | LC_ALL=C sort
}
# same_results A SETA B SETB: the two runs' per-host results are equal (prints the count or the diff).
same_results() {
	results "$1" "$2" >"$W/$1.res"
	results "$3" "$4" >"$W/$3.res"
	if diff -u "$W/$1.res" "$W/$3.res" >"$W/$1-$3.diff"; then
		echo "same ($(wc -l <"$W/$1.res") host×task results)"
	else
		echo "DIFFERENT ($(grep -c '^[-+][^-+]' "$W/$1-$3.diff") lines, see $OUT/$1-$3.diff)"
		cp "$W/$1-$3.diff" "$OUT/"
		FORKS_OK=no
	fi
}

# no_change LABEL: a gpuctl JSON run or ansible log that reports no change and no failure on any host.
no_change() {
	if [ -f "$W/$1.json" ]; then
		jq -e 'select(.recap != null) | [.recap.hosts[] | .changed + .failed + .unreachable] | add == 0' "$W/$1.json" >/dev/null
	else
		! grep -Eq 'changed=[1-9]|failed=[1-9]|unreachable=[1-9]' "$W/$1.log"
	fi || { echo "run.sh: $1 reported changes or failures" >&2; exit 1; }
}

mkdir -p "$OUT"
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
TSV=$OUT/$STAMP.tsv
printf 'hosts\ttool\tphase\tseconds\trss_mb\tmax_fds\tnote\n' >"$TSV"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"; }
FORKS_OK=yes
FORKS_NOTES=()
for N in "${SIZES[@]}"; do
	free=$(( 253 - $(ls /var/cache/gpuctl-hosts/run/.slots 2>/dev/null | wc -l) ))
	[ "$free" -ge "$N" ] || { echo "run.sh: $N hosts wanted, $free address slots free" >&2; exit 1; }
	echo "== $N hosts, forks $FORKS ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	start_set g "$N"
	# Fresh hosts: check mode with both --forks values must predict the same per-host changes.
	gpuctl_phase g "g$N-check0-f$FORKS" "$FORKS" --check
	gpuctl_phase g "g$N-check0-f$FORKS2" "$FORKS2" --check
	FORKS_NOTES+=("$N hosts, check on fresh hosts, --forks $FORKS vs $FORKS2: $(same_results "g$N-check0-f$FORKS" g "g$N-check0-f$FORKS2" g)")
	gpuctl_phase g "g$N-converge" "$FORKS"
	row "$N" gpuctl converge "$T" "$M" "$FD" ""
	gpuctl_phase g "g$N-rerun" "$FORKS"
	no_change "g$N-rerun"
	row "$N" gpuctl rerun "$T" "$M" "$FD" ""
	gpuctl_phase g "g$N-check" "$FORKS" --check
	no_change "g$N-check"
	row "$N" gpuctl check "$T" "$M" "$FD" ""
	gpuctl_phase g "g$N-rerun-f$FORKS2" "$FORKS2"
	row "$N" gpuctl "rerun --forks $FORKS2" "$T" "$M" "$FD" ""
	FORKS_NOTES+=("$N hosts, re-run, --forks $FORKS vs $FORKS2: $(same_results "g$N-rerun" g "g$N-rerun-f$FORKS2" g)")
	if [ "$N" -le "$ANSIBLE_FULL_MAX" ]; then
		stop_hosts "$W/g.names"
		start_set a "$N"
		ansible_phase a "a$N-converge"
		row "$N" ansible converge "$T" "" "" ""
		ansible_phase a "a$N-rerun"
		no_change "a$N-rerun"
		row "$N" ansible rerun "$T" "" "" ""
		ansible_phase a "a$N-check" --check
		no_change "a$N-check"
		row "$N" ansible check "$T" "" "" ""
		stop_hosts "$W/a.names"
	elif [ "$N" -le "$ANSIBLE_MAX" ]; then
		# ansible's first run here goes over gpuctl's converged hosts: it must change nothing.
		ansible_phase g "a$N-rerun"
		no_change "a$N-rerun"
		row "$N" ansible rerun "$T" "" "" "over gpuctl's converged hosts"
		stop_hosts "$W/g.names"
	else
		stop_hosts "$W/g.names"
	fi
done

{
	echo "fleet benchmark $STAMP: $(nproc) cores, $(free -g | awk '/^Mem/{print $2}') GiB, forks $FORKS, node-prep.yaml (31 tasks); gpuctl $(git -C "$ROOT" rev-parse --short HEAD), $(ansible-playbook --version | head -1)"
	echo
	bash "$HERE/table.sh" "$TSV"
	echo
	for l in "${FORKS_NOTES[@]}"; do echo "- results vs --forks: $l"; done
} | tee "$OUT/$STAMP.md"
[ "$FORKS_OK" = yes ]
