#!/bin/bash
# bench/fleet/hostcost.sh BIN_A BIN_B [N] [ROUNDS]: what an idempotent re-run of node-prep.yaml costs the
# hosts, for two gpuctl binaries on the same hosts, runs alternating (A, B, A, B, ...), on 1 and on N
# hosts (default 3, 5 rounds). On a machine whose cores the hosts share with the controller, the hosts'
# CPU, not gpuctl's, sets the re-run time once the machine is loaded, so this prints per run: wall
# seconds, gpuctl's CPU seconds (user+sys), the hosts' CPU seconds (cpuacct of each host's cgroup, so
# sshd, the login shells and what they start are all counted) and the processes each host started
# (its PID namespace's ns_last_pid before and after, as bench/ansible/run.sh counts them), then the
# medians. Hosts are run.sh's: test/hosts nspawn containers over bench/fleet/layer.sh's layer, with the
# local apt repository; BIN_A converges them first. Needs root. Run it under the shared heavy lock with
# `flock -o` (the hosts it starts must not inherit the lock).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
A=$(readlink -f "$1") B=$(readlink -f "$2") N=${3:-3} ROUNDS=${4:-5}
[ "$(id -u)" = 0 ] || { echo "hostcost.sh: needs root (test hosts)" >&2; exit 1; }
W=$(mktemp -d /tmp/gpuctl-hostcost.XXXX)
TAG=hc$$
HTTP_PID=""
cleanup() {
	[ ! -f "$W/names" ] || xargs -r -n 4 bash test/hosts/stop.sh <"$W/names" >/dev/null 2>&1 || true
	[ -z "$HTTP_PID" ] || kill "$HTTP_PID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LAYER=$(bash bench/fleet/layer.sh)
export GPUCTL_HOSTS_LOWER=$LAYER/layer
seq 1 "$N" | sed "s/^/$TAG-/" >"$W/names"
mkdir -p "$W/env"
xargs -P 3 -I{} bash -c "test/hosts/start.sh {} >$W/env/{} 2>$W/env/{}.err" <"$W/names"
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$LAYER/repo" "$PORT" >/dev/null 2>&1 &
HTTP_PID=$!
for n in 1 "$N"; do
	: >"$W/kh$n"
	printf 'all:\n  vars:\n    bench_repo: http://127.0.0.1:%s/\n    ansible_user: root\n    ansible_ssh_private_key_file: %s\n    gpuctl_known_hosts: %s\n  hosts:\n' \
		"$PORT" /var/cache/gpuctl-hosts/id_ed25519 "$W/kh$n" >"$W/inv$n.yaml"
	head -n "$n" "$W/names" | while read -r name; do
		cat "$(sed -n 's/^KNOWN_HOSTS=//p' "$W/env/$name")" >>"$W/kh$n"
		printf '    %s:\n      ansible_host: %s\n' "$name" "$(sed -n 's/^ADDR=//p' "$W/env/$name")" >>"$W/inv$n.yaml"
	done
done

hostcpu() { # nanoseconds of CPU the first $1 hosts used so far
	local s=0 h
	for h in $(head -n "$1" "$W/names"); do s=$((s + $(cat "/sys/fs/cgroup/cpuacct/gpuctl-hosts/$h/cpuacct.usage"))); done
	echo "$s"
}
lastpids() { # sum of the first $1 hosts' last PIDs; each reading starts one process (nsenter's cat)
	local s=0 h
	for h in $(head -n "$1" "$W/names"); do
		s=$((s + $(nsenter -t "$(cat "/var/cache/gpuctl-hosts/run/$h/init.pid")" -p -- cat /proc/sys/kernel/ns_last_pid) - 1))
	done
	echo "$s"
}
# one BIN LABEL N: a timed run; a re-run that changes or fails anything ends the script.
one() {
	local bin=$1 label=$2 n=$3 c0 c1 p0 p1 wall u s
	p0=$(lastpids "$n") c0=$(hostcpu "$n")
	/usr/bin/time -f '%e %U %S' -o "$W/time" "$bin" run bench/fleet/node-prep.yaml -i "$W/inv$n.yaml" -o json >"$W/out.json" 2>"$W/err" ||
		{ echo "hostcost.sh: $label failed:" >&2; tail -5 "$W/err" >&2; exit 1; }
	c1=$(hostcpu "$n") p1=$(lastpids "$n")
	[ "$label" = converge ] || jq -e 'select(.recap != null) | [.recap.hosts[] | .changed + .failed + .unreachable] | add == 0' "$W/out.json" >/dev/null ||
		{ echo "hostcost.sh: $label reported changes" >&2; exit 1; }
	read -r wall u s <"$W/time"
	printf '%s\t%d\t%s\t%.2f\t%.3f\t%.1f\n' "$label" "$n" "$wall" "$(echo "$u + $s" | bc)" \
		"$(echo "($c1 - $c0) / 1000000000" | bc -l)" "$(echo "($p1 - $p0) / $n" | bc -l)" | tee -a "$W/rows"
}
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); A=$A B=$B" >&2
printf 'run\thosts\twall_s\tgpuctl_cpu_s\thosts_cpu_s\tprocs_per_host\n'
one "$A" converge "$N" >/dev/null
for n in 1 "$N"; do
	for _ in $(seq "$ROUNDS"); do
		one "$A" A "$n"
		one "$B" B "$n"
	done
done
echo
echo "medians (run hosts wall gpuctl_cpu hosts_cpu procs/host):"
for n in 1 "$N"; do
	for l in A B; do
		for col in 3 4 5 6; do
			awk -F'\t' -v l="$l" -v n="$n" -v c="$col" '$1 == l && $2 == n {print $c}' "$W/rows" | sort -n | awk '{v[NR] = $1} END {printf "%s ", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
		done | sed "s/^/$l $n /"
		echo
	done
done
