#!/bin/bash
# bench/fleet/run.sh [N...] (default 50 100 200): the node-prep play (node-prep.yaml: swap, kernel, apt
# from a local repository, containerd config and bench/ansible's 20 generic tasks; 32 tasks) on real
# test hosts with gpuctl and with Debian's ansible-playbook (pipelining, ControlPersist, same forks),
# side by side. Prints, per N: check on fresh hosts, converge, idempotent re-run and check wall times,
# the ansible/gpuctl ratio, gpuctl's peak RSS and most open fds, and seconds per host (the curve). It
# also runs gpuctl with two --forks values and diffs the per-host results (JSON output): they must match.
# Each phase also records CPU seconds: the controller's (the tool and everything it starts, ansible's
# forks and its ControlPersist ssh masters included: each tool runs in its own cpuacct cgroup) and the
# hosts' (every host's cgroup: sshd, PAM, shells and what the tool runs there). On this machine both
# share 2 cores, so wall time at size is their sum over 2; on a real fleet each host has its own CPU and
# the controller's CPU per host is what grows with the fleet.
#
# Starting a host costs this 2-core machine several seconds, so one set of max(N) hosts serves every
# size: size N is the first N hosts of the set (its own inventory). Fresh-host check mode runs per size
# before anything converges; converge runs once, at max(N); re-run and check then run per size.
# ansible-playbook re-runs over gpuctl's converged hosts (the same play, so it must report no change),
# largest size first. ANSIBLE_FULL=M (0: off) then also starts M fresh hosts for ansible's own
# converge, re-run and check, beside gpuctl's on M more fresh hosts.
#
# Hosts are test/hosts nspawn containers over the shared read-only image plus bench/fleet/layer.sh's
# layer (python3 for ansible, a swap line in fstab); each host's writes go to its own overlay upper dir.
# Needs root.
#   FORKS (10, gpuctl's default; ansible gets the same)   FORKS2 (50): the second --forks for the diff
#   ANSIBLE_SIZES (all sizes, largest first): where ansible re-runs.   START_PAR (6): hosts started at once
#   OUT (bench/fleet/results): where the results go (STAMP.tsv, STAMP.md)
#   FRESH (1): 0 skips the check-mode runs on fresh hosts (two runs at the largest size, the longest gpuctl phases)
#   GPUCTL_B (none): a second gpuctl binary (an A/B of a change at fleet size). After ansible-playbook's
#     re-runs, A (this tree's build) and B re-run the same converged hosts alternately, A B A B, then B's
#     check, per size, and B's results must equal A's. The script waits for the file to appear, so a binary
#     still being built can join a run under way; write it elsewhere and mv it into place.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/fleet
cd "$ROOT"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(50 100 200)
mapfile -t SIZES < <(printf '%s\n' "${SIZES[@]}" | sort -n)
MAXN=${SIZES[-1]}
FORKS=${FORKS:-10} FORKS2=${FORKS2:-50} FRESH=${FRESH:-1} GPUCTL_B=${GPUCTL_B:-}
read -r -a ANSIBLE_SIZES <<<"${ANSIBLE_SIZES:-$(printf '%s\n' "${SIZES[@]}" | sort -rn | tr '\n' ' ')}"
ANSIBLE_FULL=${ANSIBLE_FULL:-0}
START_PAR=${START_PAR:-6}
OUT=${OUT:-$HERE/results}
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--buildvcs=false} CGO_CFLAGS=${CGO_CFLAGS:--Wno-deprecated-declarations}
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (test hosts)" >&2; exit 1; }
# Every host's systemd, journald, logind, dbus and user managers take about 7 inotify instances from
# root's one limit; start.sh's 1024 stops hosts from answering past about 145.
[ "$(cat /proc/sys/fs/inotify/max_user_instances)" -ge 8192 ] || echo 8192 >/proc/sys/fs/inotify/max_user_instances

W=$(mktemp -d /tmp/gpuctl-fleetbench.XXXX)
TAG=fb$$
: >"$W/started"
HTTP_PID=""
stop_hosts() { # stop_hosts NAMES_FILE
	xargs -r -P 8 -n 4 bash test/hosts/stop.sh <"$1" >/dev/null 2>>"$W/stop.err" || true
}
# The controller's cgroup: each tool's process tree is moved into it, so its CPU is counted even for
# processes that leave the tree (ansible's ControlPersist masters daemonize).
CG=/sys/fs/cgroup/cpuacct/gpuctl-fleetbench-$$
cleanup() {
	if [ -d "$CG" ]; then
		xargs -r kill <"$CG/cgroup.procs" 2>/dev/null || true
		sleep 0.2
		rmdir "$CG" 2>/dev/null || true
	fi
	stop_hosts "$W/started"
	[ -z "$HTTP_PID" ] || kill "$HTTP_PID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash test/hosts/build.sh --no-vm >/dev/null
LAYER=$(bash "$HERE/layer.sh")
go build -o "$W/gpuctl" .
mkdir "$CG"
PB=$HERE/node-prep.yaml

# The local apt repository, on this machine's loopback, which nspawn hosts share.
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
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

# start_set SET N: start N hosts (names in $W/SET.names, start.sh output in $W/env).
start_set() {
	local set=$1 n=$2
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
	echo "started $n hosts ($set) in $((SECONDS - t0)) s" >&2
}

# inventory SET N: $W/SET-N.yaml, the set's first N hosts, for both tools.
inventory() {
	local set=$1 n=$2 inv=$W/$1-$2.yaml kh=$W/$1-$2.known_hosts name
	: >"$kh"
	printf 'all:\n  vars:\n    bench_repo: %s\n    ansible_user: root\n    ansible_ssh_private_key_file: %s\n    gpuctl_known_hosts: %s\n    ansible_ssh_common_args: "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes"\n  hosts:\n' \
		"$REPO" /var/cache/gpuctl-hosts/id_ed25519 "$kh" "$kh" >"$inv"
	head -n "$n" "$W/$set.names" | while read -r name; do
		cat "$(sed -n 's/^KNOWN_HOSTS=//p' "$W/env/$name")" >>"$kh"
		printf '    %s:\n      ansible_host: %s\n' "$name" "$(sed -n 's/^ADDR=//p' "$W/env/$name")" >>"$inv"
	done
}

# hostcpu INV: CPU nanoseconds the inventory's hosts have used so far (their cgroups).
hostcpu() {
	local s=0 h
	for h in $(sed -n 's/^    \([^ ].*\):$/\1/p' "$W/$1.yaml"); do
		s=$((s + $(cat "/sys/fs/cgroup/cpuacct/gpuctl-hosts/$h/cpuacct.usage")))
	done
	echo "$s"
}
# cpu_begin INV / cpu_end INV: CC and HC, the controller's and the hosts' CPU seconds in between.
cpu_begin() { C0=$(cat "$CG/cpuacct.usage"); H0=$(hostcpu "$1"); }
cpu_end() {
	local c1 h1
	c1=$(cat "$CG/cpuacct.usage") h1=$(hostcpu "$1")
	CC=$(awk -v a="$C0" -v b="$c1" 'BEGIN{printf "%.2f", (b-a)/1e9}')
	HC=$(awk -v a="$H0" -v b="$h1" 'BEGIN{printf "%.2f", (b-a)/1e9}')
}
# "${IN_CG[@]}" CMD...: CMD in the controller's cgroup. An array, not a function: a backgrounded
# function would put a subshell between $! and the tool, whose fds gpuctl_phase polls.
IN_CG=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG")

# gpuctl_phase INV LABEL FORKS [ARGS...]: one timed gpuctl run (JSON lines in $W/LABEL.json); sets
# T (wall s), M (max RSS, MB), FD (most open fds, polled every 50 ms), CC and HC (CPU s). BIN
# (default $W/gpuctl) is the binary.
gpuctl_phase() {
	local inv=$1 label=$2 forks=$3 tp gp="" c
	shift 3
	cpu_begin "$inv"
	"${IN_CG[@]}" /usr/bin/time -f '%e %M' -o "$W/$label.time" "${BIN:-$W/gpuctl}" run "$PB" -i "$W/$inv.yaml" --forks "$forks" -o json "$@" \
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
	cpu_end "$inv"
	read -r T M <"$W/$label.time"
	M=$(awk -v k="$M" 'BEGIN{printf "%.0f", k/1024}')
}

# ansible_phase INV LABEL [ARGS...]: one timed ansible-playbook run; sets T, CC and HC.
ansible_phase() {
	local inv=$1 label=$2
	shift 2
	cpu_begin "$inv"
	if ! ANSIBLE_CONFIG=$W/ansible.cfg "${IN_CG[@]}" /usr/bin/time -f '%e %M' -o "$W/$label.time" \
		ansible-playbook -i "$W/$inv.yaml" "$PB" "$@" >"$W/$label.log" 2>&1; then
		echo "run.sh: ansible-playbook $label failed:" >&2
		grep -E 'fatal|FAILED|UNREACHABLE' "$W/$label.log" | head -5 >&2
		exit 1
	fi
	cpu_end "$inv"
	# End the ControlPersist masters: every run of either tool starts with no connection.
	xargs -r kill <"$CG/cgroup.procs" 2>/dev/null || true
	read -r T _ <"$W/$label.time"
}

# results LABEL: per-host results of a JSON run, one line per host and task, times left out: what
# must not depend on --forks.
results() {
	jq -r 'select(.host != null and .status != null and .status != "") |
		[.host, .task, (.item // "" | tostring), .status, (.msg // ""), (.diff // "" | tostring)] | @tsv' "$W/$1.json" |
		LC_ALL=C sort
}
# same_results A B: the two runs' per-host results are equal (prints the count, or saves the diff).
same_results() {
	results "$1" >"$W/$1.res"
	results "$2" >"$W/$2.res"
	if diff -u "$W/$1.res" "$W/$2.res" >"$W/$1-$2.diff"; then
		echo "same ($(wc -l <"$W/$1.res") host×task results)"
	else
		echo "DIFFERENT ($(grep -c '^[-+][^-+]' "$W/$1-$2.diff") lines, see $OUT/$1-$2.diff)"
		cp "$W/$1-$2.diff" "$OUT/"
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
# changes_noted LABEL: as no_change, but a change is written to the notes and the run goes on (the A/B
# phases: one changed re-run must not throw away the converged hosts the phases after it need).
changes_noted() {
	if ! (no_change "$1") 2>/dev/null; then
		echo "$1 reported changes or failures (its output: $OUT/$STAMP-$1.json)" | tee -a "$NOTES" >&2
		[ ! -f "$W/$1.json" ] || cp "$W/$1.json" "$OUT/$STAMP-$1.json"
	fi
}

mkdir -p "$OUT"
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
TSV=$OUT/$STAMP.tsv
NOTES=$OUT/$STAMP.notes
printf 'hosts\ttool\tphase\tseconds\trss_mb\tmax_fds\tnote\tctl_cpu_s\thosts_cpu_s\n' >"$TSV"
: >"$NOTES"
# row HOSTS TOOL PHASE SECONDS RSS FDS NOTE: one result, with the last phase's CC and HC.
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" "$CC" "$HC" >>"$TSV"; }
grow=$(( 253 - $(ls /var/cache/gpuctl-hosts/run/.slots 2>/dev/null | wc -l) ))
[ "$grow" -ge "$MAXN" ] || { echo "run.sh: $MAXN hosts wanted, $grow address slots free" >&2; exit 1; }
echo "== sizes ${SIZES[*]}, forks $FORKS ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
start_set g "$MAXN"
for N in "${SIZES[@]}"; do inventory g "$N"; done
if [ "$FRESH" != 0 ]; then
	for N in "${SIZES[@]}"; do
		gpuctl_phase "g-$N" "g$N-check0" "$FORKS" --check
		row "$N" gpuctl "check (fresh hosts)" "$T" "$M" "$FD" ""
	done
	gpuctl_phase "g-$MAXN" "g$MAXN-check0-f$FORKS2" "$FORKS2" --check
	echo "$MAXN hosts, check on fresh hosts, --forks $FORKS vs $FORKS2: $(same_results "g$MAXN-check0" "g$MAXN-check0-f$FORKS2")" >>"$NOTES"
fi
gpuctl_phase "g-$MAXN" "g$MAXN-converge" "$FORKS"
row "$MAXN" gpuctl converge "$T" "$M" "$FD" ""
for N in "${SIZES[@]}"; do
	gpuctl_phase "g-$N" "g$N-rerun" "$FORKS"
	no_change "g$N-rerun"
	row "$N" gpuctl rerun "$T" "$M" "$FD" ""
	gpuctl_phase "g-$N" "g$N-check" "$FORKS" --check
	no_change "g$N-check"
	row "$N" gpuctl check "$T" "$M" "$FD" ""
done
gpuctl_phase "g-$MAXN" "g$MAXN-rerun-f$FORKS2" "$FORKS2"
row "$MAXN" gpuctl "rerun --forks $FORKS2" "$T" "$M" "$FD" ""
echo "$MAXN hosts, re-run, --forks $FORKS vs $FORKS2: $(same_results "g$MAXN-rerun" "g$MAXN-rerun-f$FORKS2")" >>"$NOTES"
bash "$HERE/table.sh" "$TSV" >&2
for N in "${ANSIBLE_SIZES[@]}"; do
	# ansible's first run here goes over gpuctl's converged hosts: it must change nothing.
	ansible_phase "g-$N" "a$N-rerun"
	no_change "a$N-rerun"
	row "$N" ansible rerun "$T" "" "" ""
	echo "ansible re-run over $N hosts converged by gpuctl: no change on any host" >>"$NOTES"
	bash "$HERE/table.sh" "$TSV" >&2
done
if [ -n "$GPUCTL_B" ]; then
	[ -e "$GPUCTL_B" ] || echo "run.sh: waiting for $GPUCTL_B" >&2
	while [ ! -e "$GPUCTL_B" ]; do sleep 10; done
	cp "$GPUCTL_B" "$W/gpuctl-b"
	echo "B: $GPUCTL_B, sha256 $(sha256sum <"$W/gpuctl-b" | cut -c1-16), $($W/gpuctl-b version 2>/dev/null | head -1)" >>"$NOTES"
	for N in "${SIZES[@]}"; do
		for r in 1 2; do
			gpuctl_phase "g-$N" "g$N-rerun-a$r" "$FORKS" && changes_noted "g$N-rerun-a$r"
			row "$N" gpuctl "rerun after ansible, A #$r" "$T" "$M" "$FD" ""
			BIN=$W/gpuctl-b gpuctl_phase "g-$N" "g$N-rerun-b$r" "$FORKS" && changes_noted "g$N-rerun-b$r"
			row "$N" gpuctl "rerun after ansible, B #$r" "$T" "$M" "$FD" ""
		done
		BIN=$W/gpuctl-b gpuctl_phase "g-$N" "g$N-check-b" "$FORKS" --check && changes_noted "g$N-check-b"
		row "$N" gpuctl "check, B" "$T" "$M" "$FD" ""
		echo "$N hosts, re-run, A vs B: $(same_results "g$N-rerun-a1" "g$N-rerun-b1")" >>"$NOTES"
	done
	bash "$HERE/table.sh" "$TSV" >&2
fi
stop_hosts "$W/g.names"
if [ "$ANSIBLE_FULL" -gt 0 ]; then
	M_=$ANSIBLE_FULL
	start_set h "$M_" && inventory h "$M_"
	gpuctl_phase "h-$M_" "h$M_-converge" "$FORKS"
	row "$M_" gpuctl "converge (own fresh hosts)" "$T" "$M" "$FD" ""
	gpuctl_phase "h-$M_" "h$M_-rerun" "$FORKS" && no_change "h$M_-rerun"
	row "$M_" gpuctl "rerun (own hosts)" "$T" "$M" "$FD" ""
	gpuctl_phase "h-$M_" "h$M_-check" "$FORKS" --check && no_change "h$M_-check"
	row "$M_" gpuctl "check (own hosts)" "$T" "$M" "$FD" ""
	stop_hosts "$W/h.names"
	start_set a "$M_" && inventory a "$M_"
	ansible_phase "a-$M_" "a$M_-converge"
	row "$M_" ansible "converge (own fresh hosts)" "$T" "" "" ""
	ansible_phase "a-$M_" "a$M_-rerun" && no_change "a$M_-rerun"
	row "$M_" ansible "rerun (own hosts)" "$T" "" "" ""
	ansible_phase "a-$M_" "a$M_-check" --check && no_change "a$M_-check"
	row "$M_" ansible "check (own hosts)" "$T" "" "" ""
fi

{
	echo "fleet benchmark $STAMP: $(nproc) cores, $(free -g | awk '/^Mem/{print $2}') GiB, forks $FORKS, node-prep.yaml (32 tasks); gpuctl $(git -C "$ROOT" rev-parse --short HEAD), $(ansible-playbook --version | sed -n 1p)"
	echo
	bash "$HERE/table.sh" "$TSV"
	echo
	sed 's/^/- /' "$NOTES"
} | tee "$OUT/$STAMP.md"
! grep -q DIFFERENT "$NOTES"
