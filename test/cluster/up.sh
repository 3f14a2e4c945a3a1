#!/bin/bash
# up.sh [--import-images] NAME...: boot throwaway Kubernetes node containers, each with its own address on
# bridge gpuctl-e2e0 (10.77.0.11, .12, ... in the order given) and a real sshd reachable there with the test
# client key, fully offline (no route out of the bridge). The nodes are bare: gpuctl installs and configures
# Kubernetes on them. Prints one line per node: NAME=... ADDR=... KEY=... KNOWN_HOSTS=... DIR=...
#   --import-images   import the image archives into each node's containerd at boot (until the playbook does it)
# Node state lives in $CRUN/NAME (default /var/cache/gpuctl-cluster/run: containerd needs a real filesystem
# under /var/lib/containerd, not overlayfs). down.sh stops them and removes everything, even half-started ones.
#
# nspawn settings, each needed by the kubelet or runc (measured in ../../../shared/recipes/kubeadm-nspawn):
#   SYSTEMD_NSPAWN_API_VFS_WRITABLE=1  kubelet writes /proc/sys (vm.overcommit_memory, kernel.panic*)
#   SYSTEMD_SECCOMP=0                  runc joins a session keyring, which nspawn's syscall filter refuses
#   --capability=all, --bind=/dev/kmsg kubelet opens /dev/kmsg
#   e2e-cgroup-rw.service (in layer)   kubelet creates kubepods.slice in the v1 controllers nspawn mounts ro
#   own cgroup gpuctl-e2e/NAME         kubelets of different nodes do not collide on one /kubepods.slice
#   --bind=DIR:/var/lib/containerd     the overlayfs snapshotter cannot sit on the node's overlay root
set -euo pipefail
. "$(dirname "$0")/env.sh"
import=0
names=()
for a in "$@"; do
	case $a in
	--import-images) import=1 ;;
	-*) die "unknown option $a" ;;
	*) [[ $a =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "bad node name $a"; names+=("$a") ;;
	esac
done
[ ${#names[@]} -gt 0 ] || die "usage: up.sh [--import-images] NAME..."
[ "$(id -u)" = 0 ] || die "must run as root"
"$CLUSTER_DIR/build.sh" --check || die "artifacts not built: run $CLUSTER_DIR/build.sh"
IMG=$(readlink -f "$HOSTS_CACHE/current")
LAYER=$(readlink -f "$CCACHE/layer-current")/upper
IMAGES=$(readlink -f "$CCACHE/images-current")
KEY=$HOSTS_CACHE/id_ed25519
mkdir -p "$CRUN"
exec 9>"$CRUN/.lock"
flock 9
t0=$(now)

# kubelet rewrites global kernel sysctls (they are not per network namespace); down.sh puts them back.
# (kube-proxy would also raise nf_conntrack_max, which only the initial network namespace may write: the
# test's inventory sets kubeadm_kube_proxy_config {conntrack: {maxPerCore: 0}} so it leaves it alone.)
if [ ! -f "$CRUN/sysctl.orig" ]; then
	for k in vm/overcommit_memory kernel/panic kernel/panic_on_oops net/netfilter/nf_conntrack_max; do
		echo "$k $(cat /proc/sys/$k)"
	done >"$CRUN/sysctl.orig.tmp"
	mv "$CRUN/sysctl.orig.tmp" "$CRUN/sysctl.orig"
fi
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
	ip link add "$BRIDGE" type bridge
	ip addr add "$NODE_NET.1/24" dev "$BRIDGE"
fi
ip link set "$BRIDGE" up

# addresses in the order given; /etc/hosts of every node names all of them (kubeadm wants the hostname to resolve)
hosts=""
i=0
for n in "${names[@]}"; do
	i=$((i + 1))
	[ -e "$CRUN/$n" ] && die "node $n exists (down.sh $n)"
	hosts="$hosts$NODE_NET.$((10 + i)) $n"$'\n'
done

boot() { # boot NAME ADDR
	local N=$1 A=$2 D=$CRUN/$1 M
	mkdir -p "$D/upper" "$D/work" "$D/root" "$D/containerd" "$D/kubelet"
	M=$D/root
	mount -t overlay overlay -o "lowerdir=$LAYER:$IMG/nspawn:$IMG/rootfs,upperdir=$D/upper,workdir=$D/work" "$M"
	echo "$N" >"$M/etc/hostname"
	printf '127.0.0.1 localhost\n%s' "$hosts" >"$M/etc/hosts"
	# a resolver that is never reached (no route out): the kubelet copies it into pods, CoreDNS forwards to it
	echo "nameserver $NODE_NET.1" >"$M/etc/resolv.conf"
	head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$M/etc/machine-id"
	printf 'NODE_CIDR=%s/24\nGW=%s.1\n' "$A" "$NODE_NET" >"$M/etc/e2e-node.env"
	ssh-keygen -q -t ed25519 -N '' -C "$N" -f "$D/ssh_host_ed25519_key"
	install -m 600 "$D/ssh_host_ed25519_key" "$M/etc/ssh/ssh_host_ed25519_key"
	install -m 644 "$D/ssh_host_ed25519_key.pub" "$M/etc/ssh/ssh_host_ed25519_key.pub"
	echo "$A $(cut -d' ' -f1,2 "$D/ssh_host_ed25519_key.pub")" >"$D/known_hosts"
	[ $import = 1 ] && ln -sfn ../e2e-images.service "$M/etc/systemd/system/multi-user.target.wants/e2e-images.service"
	local cgs="" h c rel g
	for h in /sys/fs/cgroup/*/; do
		h=${h%/}
		c=$(basename "$h")
		rel=$(awk -F: -v c="$c" '{n=split($2,a,","); for(i=1;i<=n;i++) if (a[i]==c || a[i]=="name="c) print $3} $1=="0" && c=="unified" {print $3}' /proc/self/cgroup | head -1)
		g=$h${rel%/}/gpuctl-e2e
		mkdir -p "$g/$N"
		if [ "$c" = cpuset ]; then
			cat "$h${rel%/}/cpuset.cpus" >"$g/cpuset.cpus"
			cat "$h${rel%/}/cpuset.mems" >"$g/cpuset.mems"
			cat "$g/cpuset.cpus" >"$g/$N/cpuset.cpus"
			cat "$g/cpuset.mems" >"$g/$N/cpuset.mems"
		fi
		[ "$c" = systemd ] && mkdir -p "$g/$N/payload" "$g/$N/supervisor"
		cgs="$cgs $g/$N"
	done
	echo "$cgs" >"$D/cgroups"
	(
		exec 9>&- # the node must not hold the fixture's lock
		for g in $cgs; do echo $BASHPID >"$g/cgroup.procs"; done
		export SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=0 SYSTEMD_SECCOMP=0
		exec setsid systemd-nspawn -b -D "$M" -M "$N" --register=no --keep-unit --link-journal=no --timezone=off \
			--resolv-conf=off --console=read-only --capability=all --network-bridge="$BRIDGE" --bind=/dev/kmsg \
			--bind="$D/containerd:/var/lib/containerd" --bind="$D/kubelet:/var/lib/kubelet" \
			--bind-ro="$IMAGES:/opt/e2e/images" </dev/null >"$D/console.log" 2>&1
	) &
	echo $! >"$D/nspawn.pid"
	local init="" j
	for j in $(seq 1 100); do
		init=$(pgrep -P "$(cat "$D/nspawn.pid")" 2>/dev/null | head -1) && [ -n "$init" ] && break
		kill -0 "$(cat "$D/nspawn.pid")" 2>/dev/null || { tail -5 "$D/console.log" >&2; die "$N: systemd-nspawn exited at once"; }
		sleep 0.05
	done
	[ -n "$init" ] || die "$N: no init process"
	echo "$init" >"$D/init.pid"
	echo "$A" >"$D/addr"
}

i=0
for n in "${names[@]}"; do
	i=$((i + 1))
	boot "$n" "$NODE_NET.$((10 + i))"
done
# every node answers SSH as root with its own host key
i=0
for n in "${names[@]}"; do
	i=$((i + 1))
	D=$CRUN/$n A=$NODE_NET.$((10 + i)) ok=0
	for j in $(seq 1 600); do
		if ssh -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=2 -o LogLevel=ERROR -o StrictHostKeyChecking=yes \
			-o UserKnownHostsFile="$D/known_hosts" -o GlobalKnownHostsFile=/dev/null "root@$A" true 2>/dev/null; then
			ok=1
			break
		fi
		sleep 0.1
	done
	[ $ok = 1 ] || { tail -20 "$D/console.log" >&2; die "$n: ssh to $A did not answer within 60 s"; }
	if [ $import = 1 ]; then # done before anyone restarts containerd under the import
		st=""
		for j in $(seq 1 1200); do
			st=$("$CLUSTER_DIR/nx" "$n" systemctl show -p ActiveState --value e2e-images.service 2>/dev/null)
			[ "$st" = active ] || [ "$st" = failed ] && break
			sleep 0.1
		done
		[ "$st" = active ] || die "$n: importing the image archives: $st ($("$CLUSTER_DIR/nx" "$n" journalctl -u e2e-images --no-pager | tail -5))"
	fi
	echo "NAME=$n ADDR=$A KEY=$KEY KNOWN_HOSTS=$D/known_hosts DIR=$D"
done
echo "up: ${#names[@]} node(s) in $(elapsed "$t0")s" >&2
