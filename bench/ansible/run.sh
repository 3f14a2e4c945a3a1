#!/bin/bash
# bench/ansible/run.sh [HOSTS=10]: the same 20-task playbook (file, copy, lineinfile, replace,
# command with creates) on N throwaway test hosts with gpuctl and with Debian's ansible-core
# (pipelining on), side by side in one run. Prints converge, idempotent re-run and check-mode
# wall times, their ratios, and gpuctl's peak memory (max RSS). Needs root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-10}
cd "$ROOT"
export PATH=$PATH:/usr/local/go/bin GOFLAGS=${GOFLAGS:--buildvcs=false}
W=$(mktemp -d /tmp/gpuctl-bench.XXXX)
hosts=()
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

# Two sets of fresh hosts, one per tool, so neither sees the other's converged state.
start_set() { # start_set PREFIX
	local inv=$W/$1.yaml kh=$W/$1.known_hosts
	: > "$kh"
	printf 'all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: %s\n    gpuctl_known_hosts: %s\n    ansible_ssh_common_args: "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes"\n    ansible_python_interpreter: /usr/bin/python3\n  hosts:\n' \
		/var/cache/gpuctl-hosts/id_ed25519 "$kh" "$kh" > "$inv"
	for i in $(seq 1 "$N"); do
		local name=$1$i
		local out; out=$(bash test/hosts/start.sh "$name")
		hosts+=("$name")
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

start_set g; start_set a; py
echo "hosts: $N per tool ($(nproc) cores)" >&2

declare -A T M
for phase in converge rerun check; do
	args=(); [ $phase = check ] && args=(--check)
	/usr/bin/time -f "%e %M" -o "$W/tg" "$W/gpuctl" run "$W/pb.yaml" -i "$W/g.yaml" "${args[@]}" > "$W/g_$phase.log" 2>&1 || { echo "gpuctl $phase failed:"; tail -20 "$W/g_$phase.log"; exit 1; }
	read -r T[g_$phase] M[g_$phase] < "$W/tg"
	ANSIBLE_CONFIG=$W/ansible.cfg /usr/bin/time -f "%e %M" -o "$W/ta" ansible-playbook -i "$W/a.yaml" "$W/pb.yaml" "${args[@]}" > "$W/a_$phase.log" 2>&1 || { echo "ansible $phase failed:"; tail -20 "$W/a_$phase.log"; exit 1; }
	read -r T[a_$phase] M[a_$phase] < "$W/ta"
done
# The idempotent re-run must change nothing, or the comparison means nothing.
if grep -Eq 'changed=[1-9]' "$W/a_rerun.log" "$W/g_rerun.log"; then
	echo "re-run reported changes:" >&2; grep -h 'changed=' "$W/a_rerun.log" "$W/g_rerun.log" >&2; exit 1
fi

printf '\n| phase (%d hosts, 20 tasks) | ansible-playbook (s) | gpuctl (s) | speed-up | gpuctl max RSS (MB) |\n|---|---|---|---|---|\n' "$N"
for phase in converge rerun check; do
	awk -v p=$phase -v a="${T[a_$phase]}" -v g="${T[g_$phase]}" -v m="${M[g_$phase]}" \
		'BEGIN{printf "| %s | %.2f | %.2f | %.1fx | %.1f |\n", p, a, g, (g>0?a/g:0), m/1024}'
done
