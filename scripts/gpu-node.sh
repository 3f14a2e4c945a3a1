#!/bin/bash
# gpu-node.sh: on the GPU machine (root, no systemd, no sshd, no network), boot a systemd-managed Debian 12 node
# container with the GPU passed in, and have gpuctl converge it into a single-node Kubernetes GPU cluster.
# The parts come from scripts/gpu-node-build.sh on the development machine.
#
#   gpu-node.sh recv PART...   move carried parts into $W/parts (W=/var/tmp/gpunode; the machine keeps them
#                              between device-tool calls while it is held)
#   gpu-node.sh unpack [node|ctl|bin]...  check and unpack the parts (default all) into $W/node (root
#                              filesystem) and $W/ctl (controller; bin is ctl/bin)
#   gpu-node.sh up             boot the node (its own systemd-nspawn, run through its own loader: the machine has
#                              none) in cgroup /gpunode, on bridge gpunode0 (10.77.0.1) at 10.77.0.11, sshd ready
#   gpu-node.sh converge       gpuctl run site.yaml, validate.yaml, a re-run that must change nothing, /predict
#                              through the Service, and the model server's throughput in the pod and on the host
#   gpu-node.sh down           SIGKILL the node, remove its cgroup and bridge
# Logs and timings go to $OUT (the device tool brings them back).
set -uo pipefail
W=${GPUNODE_DIR:-/var/tmp/gpunode}
OUT=${OUT:-$W/out}
R=$W/node
C=$W/ctl
NET=${GPUNODE_NET:-10.77.0}
ADDR=$NET.11
GW=$NET.1
BR=${GPUNODE_BRIDGE:-gpunode0}
NAME=gpunode
mkdir -p "$W" "$OUT"
die() { echo "gpu-node.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
mark() { echo "TIMING $1 $(elapsed "$2")s" | tee -a "$OUT/timings.txt"; }

# nodebin PATH ARGS: a program of the node's root filesystem run on this machine through the node's own loader
# and libraries (this machine has no systemd-nspawn and no iproute2).
nodebin() {
	local b=$1
	shift
	"$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu/systemd" "$R$b" "$@"
}
# innode CMD: a shell command inside the node (all its namespaces).
innode() { nsenter -t "$(cat "$W/init.pid")" -m -u -i -n -p -- /bin/sh -c "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin KUBECONFIG=/etc/kubernetes/admin.conf; $1"; }

recv() {
	mkdir -p "$W/parts"
	local p
	for p in "$@"; do
		[ -f "$p" ] || die "no part $p"
		mv -f "$p" "$W/parts/"
	done
	ls -la "$W/parts"
	df -h "$W" | tail -1
}

unpack() {
	local t0
	t0=$(now)
	(cd "$W/parts" && sha256sum -c --quiet SHA256SUMS) || die "parts incomplete or damaged: $(ls "$W/parts")"
	local what
	for what in ${*:-node ctl bin}; do
		# bin is ctl/bin (gpuctl and its tools), packed apart so that a gpuctl fix resends only it
		case $what in node | ctl) rm -rf "${W:?}/$what" ;; bin) rm -rf "${C:?}/bin" ;; esac
		cat "$W/parts/$what"[0-9][0-9] | xz -d -T0 | tar -C "$W" --numeric-owner --xattrs -x || die "unpack $what failed"
	done
	mark unpack "$t0"
	du -sh "$R" "$C"
}

# cgroup: on cgroup v2 (the GPU machine) a child of the root with every controller the root delegates, where
# nspawn puts itself (supervisor/) and the node (payload/) and enables the controllers for the node's systemd;
# on a v1/hybrid machine (the development VM) test/cluster's per-hierarchy layout.
cgroup_enter() {
	local pid=$1 h c rel g
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		g=/sys/fs/cgroup/$NAME
		mkdir -p "$g"
		echo "$pid" >"$g/cgroup.procs"
		echo "$g" >"$W/cgroups"
		return
	fi
	: >"$W/cgroups"
	for h in /sys/fs/cgroup/*/; do
		h=${h%/}
		c=$(basename "$h")
		rel=$(awk -F: -v c="$c" '{n=split($2,a,","); for(i=1;i<=n;i++) if (a[i]==c || a[i]=="name="c) print $3} $1=="0" && c=="unified" {print $3}' /proc/self/cgroup | head -1)
		g=$h${rel%/}/$NAME
		mkdir -p "$g"
		if [ "$c" = cpuset ]; then cat "$h${rel%/}/cpuset.cpus" >"$g/cpuset.cpus"; cat "$h${rel%/}/cpuset.mems" >"$g/cpuset.mems"; fi
		[ "$c" = systemd ] && mkdir -p "$g/payload" "$g/supervisor"
		echo "$pid" >"$g/cgroup.procs"
		echo "$g" >>"$W/cgroups"
	done
}

gpu_binds() { # nspawn options passing the GPU and the driver in, when this machine has them
	local d b
	[ -e /dev/nvidiactl ] || return 0
	for d in /dev/nvidia*; do [ -e "$d" ] && echo "--bind=$d"; done
	[ -d /usr/local/nvidia ] && echo "--bind-ro=/usr/local/nvidia"
	# the driver's programs where a driver package puts them
	for b in nvidia-smi nvidia-debugdump nvidia-persistenced nvidia-cuda-mps-control nvidia-cuda-mps-server; do
		[ -x "/usr/local/nvidia/bin/$b" ] && echo "--bind-ro=/usr/local/nvidia/bin/$b:/usr/bin/$b"
	done
}

descendant() { # descendant PID COMM: the first process named COMM below PID, breadth first
	local q=("$1") p c
	while [ ${#q[@]} -gt 0 ]; do
		p=${q[0]}
		q=("${q[@]:1}")
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			[ "$(cat "/proc/$c/comm" 2>/dev/null)" = "$2" ] && { echo "$c"; return; }
			q+=("$c")
		done
	done
}

# delegate INIT: on cgroup v2, nspawn here hands the node's systemd only memory (it takes the set from PID 1's
# cgroup, the machine's process manager's), and kubeadm requires cpu, cpuset, memory and pids: enable
# every controller /gpunode has down to the node's root cgroup, then let the node's systemd re-read them.
delegate() {
	local cg d g c
	cg=$(sed -n 's/^0:://p' "/proc/$1/cgroup")
	d=/sys/fs/cgroup
	for g in $(echo "${cg%/init.scope}" | tr '/' ' '); do
		d=$d/$g
		for c in $(cat "$d/cgroup.controllers"); do echo "+$c" >"$d/cgroup.subtree_control" 2>/dev/null; done
	done
	echo "node cgroup $cg: $(cat "$d/cgroup.controllers") / subtree $(cat "$d/cgroup.subtree_control")"
	kill -TERM "$1" # systemd as PID 1 re-executes itself on SIGTERM and reads the controllers again
}

up() {
	local t0 init="" j uni=0 kh
	t0=$(now)
	[ -x "$R/usr/bin/systemd-nspawn" ] || die "no node root filesystem in $R (unpack first)"
	mkdir -p "$W/keys"
	rm -f "$W/keys/"*
	nodebin /usr/bin/ssh-keygen -q -t ed25519 -N '' -C gpuctl -f "$W/keys/client"
	install -d -m 700 "$R/root/.ssh"
	install -m 600 "$W/keys/client.pub" "$R/root/.ssh/authorized_keys"
	rm -f "$R"/etc/ssh/ssh_host_*
	nodebin /usr/bin/ssh-keygen -q -t ed25519 -N '' -C "$NAME" -f "$R/etc/ssh/ssh_host_ed25519_key"
	echo "$ADDR $(cut -d' ' -f1,2 "$R/etc/ssh/ssh_host_ed25519_key.pub")" >"$W/keys/known_hosts"
	echo "$NAME" >"$R/etc/hostname"
	printf '127.0.0.1 localhost\n%s %s\n' "$ADDR" "$NAME" >"$R/etc/hosts"
	echo "nameserver $GW" >"$R/etc/resolv.conf" # never answered: there is no network out of the bridge
	head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$R/etc/machine-id"
	printf 'NODE_CIDR=%s/24\nGW=%s\n' "$ADDR" "$GW" >"$R/etc/e2e-node.env"
	if ! nodebin /usr/bin/ip link show "$BR" >/dev/null 2>&1; then
		nodebin /usr/bin/ip link add "$BR" type bridge || die "bridge $BR"
		nodebin /usr/bin/ip addr add "$GW/24" dev "$BR"
	fi
	nodebin /usr/bin/ip link set "$BR" up
	[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && uni=1
	mkdir -p /run/systemd/nspawn
	# nspawn derives the veth MAC addresses from this machine's id; the GPU machine has none ("Failed to generate
	# predictable MAC address for container side: No medium found").
	[ -s /etc/machine-id ] || head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n' >/etc/machine-id
	# nspawn settings as test/cluster/up.sh (each needed by the kubelet or runc; see there).
	(
		cgroup_enter "$BASHPID"
		export SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=$uni SYSTEMD_SECCOMP=0
		# shellcheck disable=SC2046
		exec setsid "$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu/systemd" \
			"$R/usr/bin/systemd-nspawn" -b -D "$R" -M "$NAME" --register=no --keep-unit --link-journal=no --timezone=off \
			--resolv-conf=off --console=read-only --capability=all --network-bridge="$BR" --bind=/dev/kmsg $(gpu_binds) \
			</dev/null >"$W/console.log" 2>&1
	) &
	echo $! >"$W/nspawn.pid"
	for j in $(seq 1 100); do
		# the node's systemd: a descendant (nspawn's first child only sets up the inner one)
		init=$(descendant "$(cat "$W/nspawn.pid")" systemd)
		[ -n "$init" ] && break
		kill -0 "$(cat "$W/nspawn.pid")" 2>/dev/null || { tail -20 "$W/console.log" >&2; die "systemd-nspawn exited at once"; }
		sleep 0.05
	done
	[ -n "$init" ] || die "no init process"
	echo "$init" >"$W/init.pid"
	[ "$uni" = 1 ] && delegate "$init"
	for j in $(seq 1 600); do
		kh=$(timeout 1 bash -c "exec 3<>/dev/tcp/$ADDR/22; head -c 7 <&3" 2>/dev/null) && [ "$kh" = SSH-2.0 ] && break
		sleep 0.1
	done
	[ "$kh" = SSH-2.0 ] || { tail -30 "$W/console.log" >&2; die "sshd at $ADDR did not answer within 60 s"; }
	mark "boot node (sshd answers)" "$t0"
}

down() {
	local g p
	for g in $(cat "$W/cgroups" 2>/dev/null); do
		for p in $(find "$g" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	done
	sleep 1
	for g in $(cat "$W/cgroups" 2>/dev/null); do find "$g" -depth -type d -exec rmdir {} + 2>/dev/null; done
	awk -v d="$R/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	nodebin /usr/bin/ip link del "$BR" 2>/dev/null
	rm -f "$W/init.pid" "$W/cgroups"
}

# inventory: every setting that bends gpuctl's defaults to this machine, with its reason.
inventory() {
	. "$C/versions.env"
	local imgs base=""
	# The model server's CUDA libraries: a base image made here from this machine's CUDA toolkit (cuda_base).
	[ -f "$W/cuda-runtime.tar" ] && base="    model_server_base_image: $W/cuda-runtime.tar"
	imgs=$(ls "$C"/images/*.tar | sed 's/^/      - /')
	sed -e "s|__APISERVER_HOST__|$ADDR|g" -e "s|__FLANNEL_IMAGE__|$FLANNEL_IMAGE|g" -e "s|__POD_CIDR__|10.244.0.0/16|g" \
		"$C/flannel.yaml.in" >"$W/flannel.yaml"
	cat >"$W/hosts.yaml" <<-EOF
	# The GPU machine's node container (scripts/gpu-node.sh), converged by gpuctl from the machine itself.
	all:
	  vars:
	    ansible_user: root
	    ansible_ssh_private_key_file: $W/keys/client
	    # Air gap (nothing outside the machine can be reached): kubelet/kubeadm/kubectl, the image archives and
	    # NVIDIA's container toolkit come from the development machine's build (scripts/gpu-node-build.sh).
	    kubernetes_version: $KUBE_VERSION
	    kubernetes_packages_source: binaries
	    kubernetes_binaries_dir: $C/kube
	    image_archives:
	$imgs
	    nvidia_toolkit_source: binaries
	    nvidia_toolkit_binaries_dir: $C/nvidia
	    # Flannel from the locally built image (its CNI plugin is not on the module proxy; see the manifest).
	    cni_manifest: $W/flannel.yaml
	    pod_network_cidr: 10.244.0.0/16
	    # Only the machine's initial network namespace may set nf_conntrack_max: kube-proxy must leave it alone.
	    kubeadm_kube_proxy_config: {conntrack: {maxPerCore: 0}}
	    # The machine lacks CAP_SYS_RESOURCE (CapEff 0x1fffeffffff), so containerd cannot raise oom_score_adj.
	    containerd_config_overrides: {plugins: {io.containerd.grpc.v1.cri: {restrict_oom_score_adj: true}}}
	    # nvidia/cuda images cannot be pulled: the GPU test pod runs nvidia-smi, which CDI brings in from the
	    # driver with its libraries, on a glibc base with the CUDA images' NVIDIA_* environment.
	    gpu_test_pod_image: $GLIBC_IMAGE
	$base
	  children:
	    control_plane:
	      hosts:
	        $NAME: {ansible_host: $ADDR, gpuctl_known_hosts: $W/keys/known_hosts}
	    gpu:
	      hosts:
	        $NAME: {}
	EOF
}

# cuda_base: a base image for the model server, made from this machine as a CUDA runtime image would be: the
# CUDA libraries the server opens, and glibc for them and for gpuctl (ldd's list, the ELF interpreter included:
# with a base image the model_server module adds no C library of its own).
cuda_base() {
	local L=/usr/local/cuda/targets/x86_64-linux/lib f files=() seen=" " d objs=("$C/bin/gpuctl")
	for f in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13 libnvrtc-builtins.so.13.0; do
		[ -e "$L/$f" ] && { objs+=("$L/$f"); files+=("$(readlink -f "$L/$f"):$L/$f"); }
	done
	for d in $(ldd "${objs[@]}" | awk '$1 ~ /:$/ {next} $2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
		case $seen in *" $d "*) continue ;; esac
		seen="$seen$d "
		files+=("$(readlink -f "$d"):$d")
	done
	# As in an Ubuntu base: the loader reads ld.so.conf.d, where NVIDIA's update-ldcache hook adds the driver's
	# folder when the container starts (its ldconfig runs with -f /etc/ld.so.conf).
	printf 'include /etc/ld.so.conf.d/*.conf\n' >"$W/ld.so.conf"
	files+=("$W/ld.so.conf:/etc/ld.so.conf")
	printf '%s\n' "${files[@]}" >"$OUT/cuda-base-files.txt"
	"$C/bin/mkimg" -t docker.io/gpuctl/cuda-runtime:13.0-local -o "$W/cuda-runtime.tar" -dir /tmp:1777 \
		-env LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:$L \
		-env NVIDIA_VISIBLE_DEVICES=all -env NVIDIA_DRIVER_CAPABILITIES=compute,utility "${files[@]}"
}

gpuctl() { (cd "$W" && HOME=$W NO_COLOR=1 "$C/bin/gpuctl" "$@"); }

converge() {
	local t0 rc ip port
	[ -e /usr/local/cuda ] && { t0=$(now); cuda_base || die "CUDA base image"; mark "CUDA runtime base image" "$t0"; }
	inventory
	t0=$(now)
	gpuctl run site.yaml -i "$W/hosts.yaml" >"$OUT/site.log" 2>&1
	rc=$?
	mark "gpuctl run site.yaml (rc=$rc)" "$t0"
	tail -60 "$OUT/site.log"
	[ $rc = 0 ] || { diag; return 1; }
	t0=$(now)
	gpuctl run validate.yaml -i "$W/hosts.yaml" >"$OUT/validate.log" 2>&1
	rc=$?
	mark "gpuctl run validate.yaml (rc=$rc)" "$t0"
	tail -40 "$OUT/validate.log"
	t0=$(now)
	gpuctl run site.yaml -i "$W/hosts.yaml" --detailed-exitcode >"$OUT/rerun.log" 2>&1
	rc=$?
	mark "re-run site.yaml --detailed-exitcode (rc=$rc, 0 = no changes)" "$t0"
	tail -12 "$OUT/rerun.log"
	evidence
}

evidence() {
	{
		innode "kubectl get nodes -o wide; kubectl describe node $NAME | sed -n '/^Labels/,/^Annotations/p;/^Taints/p;/^Capacity/,/^System Info/p'"
		innode "kubectl get pods -A -o wide; kubectl get svc,deploy -A"
		innode "kubectl logs gpu-test 2>&1 | head -30"
		local svc
		svc=$(innode "kubectl get svc model-server -o jsonpath='{.spec.clusterIP}:{.spec.ports[0].port}'")
		echo "== model-server Service $svc"
		innode "curl -s http://$svc/; echo; curl -s -X POST -H content-type:application/json http://$svc/predict -d '[0,1,2,3,4,5,6,7,8,9]'; echo"
	} 2>&1 | tee "$OUT/evidence.txt"
}

# split_cpus: the servers (the node, so the pod, and the host's server) on the lower half of the CPUs, the load
# generator on the upper half, each through a cgroup cpuset. Without it the three compete under cgroup weights
# that differ (a pod without a CPU request has cpu.weight 1 inside kubepods), and the pod path measured the
# scheduler, not the container: 17-29% behind the host on 2026-12-06, with the host's own runs 20% apart.
split_cpus() {
	local n lo hi
	n=$(nproc)
	lo=0-$((n / 2 - 1)) hi=$((n / 2))-$((n - 1))
	grep -qw cpuset /sys/fs/cgroup/cgroup.controllers || { echo "no cpuset controller: CPUs not split"; return 0; }
	echo +cpuset >/sys/fs/cgroup/cgroup.subtree_control
	mkdir -p /sys/fs/cgroup/gpuhost /sys/fs/cgroup/gpubench
	echo "$lo" >/sys/fs/cgroup/gpunode/cpuset.cpus && echo "$lo" >/sys/fs/cgroup/gpuhost/cpuset.cpus &&
		echo "$hi" >/sys/fs/cgroup/gpubench/cpuset.cpus || { echo "cpuset write failed"; return 0; }
	echo "servers (node, host) on CPUs $lo, load generator on $hi"
}

# measure: the same seed model server in the pod (through its Service) and on this machine (gpuctl serve, same
# binary, same flags), each loaded from the node's network namespace by gpubench for $DUR: /predict (JSON) and
# the Open Inference Protocol binary path, pod and host alternating $REPS times (the spread shows the noise).
measure() {
	local svc podip host=$GW:18090 pid name path u r
	[ -s "$W/init.pid" ] || die "measure: no node running (gpu-node.sh all first)"
	svc=$(innode "kubectl get svc model-server -o jsonpath='{.spec.clusterIP}:{.spec.ports[0].port}'")
	# the pod straight at its IP too: separates the container's cost from the Service's (kube-proxy DNAT)
	podip=$(innode "kubectl get pods -l app.kubernetes.io/instance=model-server -o jsonpath='{.items[0].status.podIP}'"):${svc##*:}
	split_cpus
	(echo $BASHPID >/sys/fs/cgroup/gpuhost/cgroup.procs 2>/dev/null
		exec env LD_LIBRARY_PATH=/usr/local/nvidia/lib64 "$C/bin/gpuctl" serve --addr "$host" --device=auto) >"$OUT/serve-host.log" 2>&1 &
	pid=$!
	for r in $(seq 1 50); do curl -sf "http://$host/v2/health/ready" >/dev/null && break; sleep 0.2; done
	name=$(curl -s "http://$host/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"]["name"])' 2>/dev/null)
	echo "host server: $(curl -s "http://$host/" | head -c 600)"
	echo "pod server:  $(innode "curl -s http://$svc/" | head -c 600)"
	rm -f "$OUT/throughput.jsonl"
	for path in /predict "/v2/models/$name/infer"; do
		for r in $(seq 1 "${REPS:-2}"); do
			for u in "pod-service:$svc" "pod-ip:$podip" "host:$host"; do
				(echo $BASHPID >/sys/fs/cgroup/gpubench/cgroup.procs 2>/dev/null
					exec nsenter -t "$(cat "$W/init.pid")" -n "$C/bin/gpubench" load -label "${u%%:*} $path" -url "http://${u#*:}$path" \
					-conc "${CONC:-64}" -width 10 -dur "${DUR:-5s}" -json "$OUT/throughput.jsonl") 2>&1 | tail -2
			done
		done
	done
	kill "$pid"
	python3 - "$OUT/throughput.jsonl" <<-'PY' | tee "$OUT/throughput-summary.txt"
		import json, sys, collections
		runs = collections.defaultdict(list)
		for line in open(sys.argv[1]):
		    r = json.loads(line)
		    where, path = r["label"].split(" ", 1)
		    runs[(path, where)].append(r)
		for path in sorted({p for p, _ in runs}):
		    host = runs[(path, "host")]
		    best = lambda rs: max(x["requests_per_s"] for x in rs)
		    for where in ("pod-service", "pod-ip"):
		        pod = runs.get((path, where))
		        if not pod:
		            continue
		        errs = sum(x["errors"] for x in pod + host)
		        print(f"{path}: {where} {best(pod):.0f} req/s (runs {[round(x['requests_per_s']) for x in pod]}, p50 {pod[0]['p50_ms']:.2f} ms), "
		              f"host {best(host):.0f} req/s (runs {[round(x['requests_per_s']) for x in host]}, p50 {host[0]['p50_ms']:.2f} ms): "
		              f"{where} path costs {100 * (1 - best(pod) / best(host)):.1f}% (best of each), errors {errs}")
	PY
}

diag() {
	innode "systemctl --failed --no-legend; kubectl get pods -A -o wide; crictl ps -a | tail -20; journalctl -u kubelet --no-pager | tail -200; journalctl -u containerd --no-pager | tail -100" >"$OUT/diag.txt" 2>&1
	head -40 "$OUT/diag.txt"; grep -iE 'error|fail' "$OUT/diag.txt" | tail -15 | cut -c1-400
}

case ${1:-} in
recv) shift; recv "$@" ;;
unpack) shift; unpack "$@" ;;
up) up ;;
converge) converge ;;
evidence) evidence ;;
measure) measure ;;
diag) diag ;;
down) down ;;
all) unpack && up && converge ;;
*) die "usage: gpu-node.sh recv PART...|unpack [node|ctl|bin]...|up|converge|evidence|measure|diag|down|all" ;;
esac
