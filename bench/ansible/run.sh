#!/bin/bash
# bench/ansible/run.sh [HOSTS=10]: the same 20-task playbook (file, copy, lineinfile, replace,
# command with creates) on N throwaway test hosts with gpuctl and with Debian's ansible-core
# (pipelining on), side by side in one run. Prints converge, idempotent re-run and check-mode
# wall times, their ratios, gpuctl's peak memory (max RSS) and the processes each tool made the
# hosts start per task-host pair, counted on the hosts (each container's PID namespace counter:
# exact, processes and threads alike, connection setup included).
# Then the same again on hosts where starting a process is slow: the login shell, through which
# sshd starts every command and the SFTP server, waits SLOW_MS (default 50) ms first.
# Needs root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-10}
SLOW_MS=${SLOW_MS:-50}
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--buildvcs=false}
W=$(mktemp -d /tmp/gpuctl-bench.XXXX)
hosts=()
declare -A init
cleanup() {
	for h in "${hosts[@]}"; do bash test/hosts/stop.sh "$h" >/dev/null 2>&1 || true; done
	rm -rf "$W"
}
trap cleanup EXIT

need=""
for p in ansible-core time; do dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'ok installed' || need="$need $p"; done
[ -z "$need" ] || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null; }; }
bash test/hosts/build.sh --no-vm >/dev/null
go build -o "$W/gpuctl" .

# container_init DIR: the host's PID 1 as this machine sees it: the child of systemd-nspawn in a PID
# namespace of its own (start.sh's init.pid can name a short-lived helper under load).
container_init() {
	local p self
	self=$(readlink /proc/self/ns/pid)
	for p in $(pgrep -P "$(cat "$1/nspawn.pid")"); do
		[ "$(readlink "/proc/$p/ns/pid")" != "$self" ] && { echo "$p"; return; }
	done
	echo "no container init under $1" >&2; exit 1
}

# Two sets of fresh hosts, one per tool, so neither sees the other's converged state.
start_set() { # start_set PREFIX: N hosts, started in parallel
	local inv=$W/$1.yaml kh=$W/$1.known_hosts i name
	: > "$kh"
	printf 'all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: %s\n    gpuctl_known_hosts: %s\n    ansible_ssh_common_args: "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes"\n    ansible_python_interpreter: /usr/bin/python3\n  hosts:\n' \
		/var/cache/gpuctl-hosts/id_ed25519 "$kh" "$kh" > "$inv"
	for i in $(seq 1 "$N"); do
		name=$1$$x$i
		hosts+=("$name")
		bash test/hosts/start.sh "$name" > "$W/$name.env" &
	done
	wait
	for i in $(seq 1 "$N"); do
		name=$1$$x$i
		local out; out=$(cat "$W/$name.env")
		[ -n "$out" ] || { echo "host $name did not start" >&2; exit 1; }
		init[$name]=$(container_init "$(sed -n 's/^DIR=//p' <<<"$out")")
		[ -n "${init[$name]}" ] || exit 1
		cat "$(sed -n 's/^KNOWN_HOSTS=//p' <<<"$out")" >> "$kh"
		printf '    %s:\n      ansible_host: %s\n' "$name" "$(sed -n 's/^ADDR=//p' <<<"$out")" >> "$inv"
	done
}

# Ansible needs Python on the hosts; install it before any timing, on both sets alike.
py() { for h in "${hosts[@]}"; do bash test/hosts/ssh "$h" 'command -v python3 >/dev/null || (apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null))' & done; wait; }

{
echo '- hosts: all'
echo '  gather_facts: false'
echo '  tasks:'
for i in 1 2 3 4; do
cat <<T
    - name: directory $i
      file: {path: /opt/bench/d$i, state: directory, mode: "0755"}
    - name: copy $i
      copy: {dest: /opt/bench/d$i/app.conf, content: "name=app$i\nport=80$i\nmode=prod\n", mode: "0644", force: false}
    - name: lineinfile $i
      lineinfile: {path: /opt/bench/d$i/app.conf, regexp: '^log=', line: "log=/var/log/app$i.log"}
    - name: replace $i
      replace: {path: /opt/bench/d$i/app.conf, regexp: '^mode=prod$', replace: 'mode=production'}
    - name: command with creates $i
      command: {cmd: "touch /opt/bench/d$i/.init", creates: "/opt/bench/d$i/.init"}
T
done
} > "$W/pb.yaml"
cat > "$W/ansible.cfg" <<C
[defaults]
forks = 10
host_key_checking = True
interpreter_python = /usr/bin/python3
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s
C

# lastpid SET: the last PID handed out in each host's namespace, one per line. Reading it starts
# one process in the namespace (nsenter's child), which count takes off.
lastpid() {
	local h
	for h in "${hosts[@]}"; do
		[[ $h == "$1"* ]] || continue
		nsenter -t "${init[$h]}" -p -- cat /proc/sys/kernel/ns_last_pid
	done
}
count() { # count BEFORE AFTER: processes started on the hosts in between, all hosts together
	paste <(echo "$1") <(echo "$2") | awk '{d=$2-$1-1; if (d<0) {print "PID counter wrapped" > "/dev/stderr"; exit 1} s+=d} END{print s}'
}

# slow_logins: every host's root login shell waits SLOW_MS before it runs anything, without
# starting a process of its own (bash's read times out on a FIFO nobody writes to).
slow_logins() {
	local h secs
	secs=$(awk -v m="$SLOW_MS" 'BEGIN{printf "%.3f", m/1000}')
	for h in "${hosts[@]}"; do
		bash test/hosts/ssh "$h" "set -e; rm -rf /opt/bench; mkfifo -m 600 /run/gpuctl-slow.fifo
			printf '#!/bin/bash\nread -t $secs -u 9 9<>/run/gpuctl-slow.fifo\nexec /bin/bash \"\$@\"\n' > /usr/local/bin/slowsh
			chmod 755 /usr/local/bin/slowsh; echo /usr/local/bin/slowsh >> /etc/shells; chsh -s /usr/local/bin/slowsh root" &
	done
	wait
	for h in "${hosts[@]}"; do
		bash test/hosts/ssh "$h" 'getent passwd root' | grep -q slowsh || { echo "$h: slow login shell not set" >&2; exit 1; }
	done
}

start_set g; start_set a; py
echo "hosts: $N per tool ($(nproc) cores)" >&2

declare -A T M P
measure() { # measure LABEL: the three phases with each tool
	local phase args b tool
	for phase in converge rerun check; do
		args=(); [ $phase = check ] && args=(--check)
		b=$(lastpid g)
		/usr/bin/time -f "%e %M" -o "$W/tg" "$W/gpuctl" run "$W/pb.yaml" -i "$W/g.yaml" "${args[@]}" > "$W/g_$1$phase.log" 2>&1 || { echo "gpuctl $phase failed:"; tail -20 "$W/g_$1$phase.log"; exit 1; }
		P[g_$1$phase]=$(count "$b" "$(lastpid g)")
		read -r T[g_$1$phase] M[g_$1$phase] < "$W/tg"
		b=$(lastpid a)
		ANSIBLE_CONFIG=$W/ansible.cfg /usr/bin/time -f "%e %M" -o "$W/ta" ansible-playbook -i "$W/a.yaml" "$W/pb.yaml" "${args[@]}" > "$W/a_$1$phase.log" 2>&1 || { echo "ansible $phase failed:"; tail -20 "$W/a_$1$phase.log"; exit 1; }
		P[a_$1$phase]=$(count "$b" "$(lastpid a)")
		read -r T[a_$1$phase] M[a_$1$phase] < "$W/ta"
	done
	# The idempotent re-run must change nothing, or the comparison means nothing.
	if grep -Eq 'changed=[1-9]' "$W/a_$1rerun.log" "$W/g_$1rerun.log"; then
		echo "re-run reported changes:" >&2; grep -h 'changed=' "$W/a_$1rerun.log" "$W/g_$1rerun.log" >&2; exit 1
	fi
}
table() { # table LABEL TITLE
	printf '\n%s\n\n| phase (%d hosts, 20 tasks) | ansible-playbook (s) | gpuctl (s) | speed-up | ansible procs / task-host | gpuctl procs / task-host (total) | gpuctl max RSS (MB) |\n|---|---|---|---|---|---|---|\n' "$2" "$N"
	for phase in converge rerun check; do
		awk -v p=$phase -v a="${T[a_$1$phase]}" -v g="${T[g_$1$phase]}" -v m="${M[g_$1$phase]}" -v pa="${P[a_$1$phase]}" -v pg="${P[g_$1$phase]}" -v pairs=$((N * 20)) \
			'BEGIN{printf "| %s | %.2f | %.2f | %.1fx | %.1f | %.2f (%d) | %.1f |\n", p, a, g, (g>0?a/g:0), pa/pairs, pg/pairs, pg, m/1024}'
	done
}

measure fast
slow_logins
measure slow
table fast "Hosts as they are:"
table slow "Login shell adds ${SLOW_MS} ms to every process sshd starts:"
