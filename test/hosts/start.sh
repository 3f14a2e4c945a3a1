#!/bin/bash
# start.sh NAME [--vm] [--private]: start one throwaway Debian 12 test host and wait until SSH answers.
#
#   default    systemd-nspawn container booting systemd over an overlay of the image, sharing this
#              machine's network namespace; sshd on 127.0.10.N:22 (N = free slot 2..254)
#   --private  nspawn container on its own network namespace, veth on bridge gpuctl-br0, sshd on 10.88.0.N:22
#              (no route out: apt inside does not work)
#   --vm       QEMU/TCG VM cloned from the pre-booted template, real kernel; sshd forwarded from 127.0.0.1:22000+N
# Every host gets a fresh ed25519 SSH host key. Prints KEY=VALUE lines (also in $RUN/NAME/env):
#   NAME MODE ADDR PORT DIR KEY KNOWN_HOSTS HOSTKEY IMAGE   (HOSTKEY: "ssh-ed25519 AAAA...")
# GPUCTL_HOSTS_OWNER=PID marks the host as owned by PID: `stop.sh --stale` stops it once PID is gone.
set -euo pipefail
HOSTS_DIR=$(cd "$(dirname "$0")" && pwd)
. "$HOSTS_DIR/lib.sh"

NAME=${1:-}
shift || true
MODE=nspawn
for a in "$@"; do
	case $a in
	--vm) MODE=vm ;;
	--private) MODE=private ;;
	*) die "unknown argument $a (usage: start.sh NAME [--vm|--private])" ;;
	esac
done
[[ $NAME =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "host name '$NAME' must match [a-z0-9][a-z0-9-]{0,30}"
[ "$(id -u)" = 0 ] || die "must run as root"
[ -f "$CACHE/current/READY" ] || die "no image: run $HOSTS_DIR/build.sh first"
[ $MODE != vm ] || [ -f "$CACHE/current/vm/READY" ] || die "no VM image: run $HOSTS_DIR/build.sh (without --no-vm)"
IMG=$(readlink -f "$CACHE/current")
# Every container's systemd, journald and logind take inotify instances from this machine's one
# per-user limit (128 by default): with a dozen hosts, or kubelets beside them, new hosts stop
# answering. Raise it, as kind and k3d ask users to.
[ "$(cat /proc/sys/fs/inotify/max_user_instances)" -ge 1024 ] || echo 1024 > /proc/sys/fs/inotify/max_user_instances
D=$RUN/$NAME
mkdir -p "$RUN" "$SLOTS"
mkdir "$D" 2>/dev/null || die "host $NAME already exists (stop it with stop.sh $NAME)"
echo "${GPUCTL_HOSTS_OWNER:-}" >"$D/owner"
echo "$MODE" >"$D/mode"
t0=$(now)
cleanup_on_error() {
	local rc=$?
	[ $rc = 0 ] && return
	echo "start.sh: $NAME failed; console/serial log tail:" >&2
	tail -15 "$D/console.log" "$D/serial.log" 1>&2 2>/dev/null || true
	# GPUCTL_HOSTS_KEEP_FAILED=1 leaves the host as it is for a look (stop.sh NAME removes it)
	[ "${GPUCTL_HOSTS_KEEP_FAILED:-}" = 1 ] || "$HOSTS_DIR/stop.sh" "$NAME" >/dev/null 2>&1 || true
	exit $rc
}
trap cleanup_on_error EXIT

# --- address slot ---------------------------------------------------------------------------------------
slot_usable() {
	case $MODE in
	nspawn) ! ss -Htln "src 127.0.$NET_OCTET.$1" | grep -q . ;;
	vm) port_free $((VM_PORT_BASE + $1)) ;;
	private) ! ip -4 -o addr show | grep -qF " $BRIDGE_NET.$1/" ;;
	esac
}
N=""
for n in $(seq 2 254); do
	mkdir "$SLOTS/$n" 2>/dev/null || continue
	if slot_usable "$n"; then
		N=$n
		echo "$NAME" >"$SLOTS/$n/owner"
		break
	fi
	rmdir "$SLOTS/$n"
done
[ -n "$N" ] || die "no free address slot"
echo "$N" >"$D/slot"
case $MODE in
nspawn) ADDR=127.0.$NET_OCTET.$N PORT=22 ;;
private) ADDR=$BRIDGE_NET.$N PORT=22 ;;
vm) ADDR=127.0.0.1 PORT=$((VM_PORT_BASE + N)) ;;
esac

# --- fresh host key -------------------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C "$NAME" -f "$D/ssh_host_ed25519_key"
HOSTKEY=$(cut -d' ' -f1,2 "$D/ssh_host_ed25519_key.pub")
if [ "$PORT" = 22 ]; then KH_HOST=$ADDR; else KH_HOST="[$ADDR]:$PORT"; fi
# known_hosts is the current key (scripts use it); known_hosts.gen0 stays as it was for changed-key tests.
echo "$KH_HOST $HOSTKEY" >"$D/known_hosts.gen0"
cp "$D/known_hosts.gen0" "$D/known_hosts"
SSH="ssh $(ssh_opts "$D/known_hosts" "$PORT")"

wait_ssh() { # wait_ssh SECONDS: true once root can log in with the host's own known_hosts
	local end=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$end" ]; do
		$SSH -o ConnectTimeout=2 "root@$ADDR" true 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

start_nspawn() {
	mkdir -p "$D/upper" "$D/work" "$D/root"
	local M=$D/root
	# GPUCTL_HOSTS_LOWER=DIR puts a read-only layer of the caller's (bench/fleet: python3, a swap line in
	# fstab) on top of the image, shared by every host started with it.
	mount -t overlay overlay -o "lowerdir=${GPUCTL_HOSTS_LOWER:+$GPUCTL_HOSTS_LOWER:}$IMG/nspawn:$IMG/rootfs,upperdir=$D/upper,workdir=$D/work" "$M"
	echo "$NAME" >"$M/etc/hostname"
	# Linger keeps each user's systemd manager running between logins. Without it a login that
	# lands while the last session's user@.service is still stopping waits in PAM for up to a
	# minute (seen after bursts of short logins), and clients' keepalives give up first.
	mkdir -p "$M/var/lib/systemd/linger" && touch "$M/var/lib/systemd/linger/root" "$M/var/lib/systemd/linger/deploy" "$M/var/lib/systemd/linger/alice"
	# Stopping a user manager waits for its cgroup to empty, which on this cgroup v1 hybrid machine is
	# never reported inside a container: each waits out TimeoutStopSec (2 min) and a reboot would take
	# minutes. Shutdown is the only time they stop (linger keeps them up), so cap it for reboot tests.
	mkdir -p "$M/etc/systemd/system/user@.service.d"
	printf '[Service]\nTimeoutStopSec=2s\n' >"$M/etc/systemd/system/user@.service.d/90-gpuctl-test.conf"
	echo "$ADDR $NAME" >>"$M/etc/hosts"
	install -m 600 "$D/ssh_host_ed25519_key" "$M/etc/ssh/ssh_host_ed25519_key"
	install -m 644 "$D/ssh_host_ed25519_key.pub" "$M/etc/ssh/ssh_host_ed25519_key.pub"
	local net=()
	if [ $MODE = nspawn ]; then
		echo "ListenAddress $ADDR" >"$M/etc/ssh/sshd_config.d/20-gpuctl-listen.conf"
	else
		if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
			ip link add "$BRIDGE" type bridge 2>/dev/null || true
			ip addr add "$BRIDGE_NET.1/24" dev "$BRIDGE" 2>/dev/null || true
		fi
		ip link set "$BRIDGE" up
		rm -f "$M"/etc/systemd/system/systemd-networkd.{service,socket}
		mkdir -p "$M/etc/systemd/system/multi-user.target.wants"
		ln -sfn /lib/systemd/system/systemd-networkd.service "$M/etc/systemd/system/multi-user.target.wants/"
		printf '[Match]\nName=host0\n\n[Network]\nAddress=%s/24\nGateway=%s.1\n' "$ADDR" "$BRIDGE_NET" \
			>"$M/etc/systemd/network/10-host0.network"
		net=(--network-bridge="$BRIDGE")
	fi

	# Own sub-cgroup in every hierarchy: systemd inside each host then gets a tree of its own (hosts would
	# otherwise share /payload on this cgroup v1 machine), and the freezer one lets Freeze stop the host.
	local cgs="" h c rel g
	for h in /sys/fs/cgroup/*/; do
		h=${h%/}
		c=$(basename "$h")
		rel=$(awk -F: -v c="$c" '{n=split($2,a,","); for(i=1;i<=n;i++) if (a[i]==c || a[i]=="name="c) print $3} $1=="0" && c=="unified" {print $3}' /proc/self/cgroup | head -1)
		g=$h${rel%/}/gpuctl-hosts
		mkdir -p "$g/$NAME"
		if [ "$c" = cpuset ]; then
			cat "$h${rel%/}/cpuset.cpus" >"$g/cpuset.cpus"
			cat "$h${rel%/}/cpuset.mems" >"$g/cpuset.mems"
			cat "$g/cpuset.cpus" >"$g/$NAME/cpuset.cpus"
			cat "$g/cpuset.mems" >"$g/$NAME/cpuset.mems"
		fi
		[ "$c" = systemd ] && mkdir -p "$g/$NAME/payload" "$g/$NAME/supervisor"
		cgs="$cgs $g/$NAME"
	done
	echo "$cgs" >"$D/cgroups"

	# No systemd on this machine: --register=no --keep-unit. The host is v1 hybrid: legacy cgroups inside.
	# A reboot inside the host makes systemd-nspawn exit with 133; the loop boots it again on the same
	# root, as systemd-nspawn@.service does (RestartForceExitStatus=133), so reboot tests see a real
	# reboot: every process restarted, a new boot id (nspawn gives each boot its own). The loop shell is
	# in the host's cgroups, so stop.sh and ctl.sh kill end it along with the host.
	rm -f "$D/nspawn.pid"
	(
		for g in $cgs; do echo $BASHPID >"$g/cgroup.procs"; done
		export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=0
		while :; do
			setsid systemd-nspawn -b -D "$M" -M "$NAME" --register=no --keep-unit --link-journal=no \
				--resolv-conf=copy-host --timezone=off --console=read-only "${net[@]}" &
			echo $! >"$D/nspawn.pid.new" && mv "$D/nspawn.pid.new" "$D/nspawn.pid"
			find_init || exit 1
			rc=0
			wait "$(cat "$D/nspawn.pid")" || rc=$?
			echo "$(date +%s) exit $rc" >>"$D/boots"
			[ $rc = 133 ] || exit $rc
		done
	) </dev/null >>"$D/console.log" 2>&1 &
	local i
	for i in $(seq 1 200); do [ -f "$D/init.pid" ] && break; sleep 0.02; done
	[ -s "$D/init.pid" ] || die "no init process in the container"
	wait_ssh 60 || die "ssh to $NAME ($ADDR) did not answer within 60 s"
}

# find_init waits for the container's init (systemd-nspawn's first child) and records it in init.pid.
find_init() {
	local i init=""
	for i in $(seq 1 100); do
		init=$(pgrep -P "$(cat "$D/nspawn.pid")" 2>/dev/null | head -1) && [ -n "$init" ] && break
		kill -0 "$(cat "$D/nspawn.pid")" 2>/dev/null || { echo "systemd-nspawn exited at once" >&2; return 1; }
		sleep 0.02
	done
	[ -n "$init" ] || { echo "no init process in the container" >&2; return 1; }
	echo "$init" >"$D/init.pid.new" && mv "$D/init.pid.new" "$D/init.pid"
}

start_vm() {
	qemu-img create -q -f qcow2 -b "$IMG/vm/tmpl.qcow2" -F qcow2 "$D/disk.qcow2"
	qemu_start "$D" "$D/disk.qcow2" "$PORT" -incoming "exec:cat $IMG/vm/tmpl.state"
	local i
	for i in $(seq 1 200); do
		hmp "$D/mon" "info migrate" 0.1 | grep -q 'Migration status: completed' && break
		sleep 0.05
	done
	# The template was saved stopped, so the clone arrives paused.
	hmp "$D/mon" "info status" 0.1 | grep -q 'VM status: running' || hmp "$D/mon" cont 0.1 >/dev/null
	# Every clone wakes with the template's host key and clock: give it its own key, time and name.
	local any="ssh -i $KEY -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p $PORT root@$ADDR"
	local ok=0
	for i in $(seq 1 300); do
		if $any "umask 077; cat >/etc/ssh/ssh_host_ed25519_key.new && mv /etc/ssh/ssh_host_ed25519_key.new /etc/ssh/ssh_host_ed25519_key &&
			echo '$HOSTKEY $NAME' >/etc/ssh/ssh_host_ed25519_key.pub && chmod 644 /etc/ssh/ssh_host_ed25519_key.pub &&
			date -s @$(date +%s.%N) >/dev/null && echo $NAME >/etc/hostname && hostname $NAME && echo '127.0.1.1 $NAME' >>/etc/hosts &&
			systemctl reload ssh" <"$D/ssh_host_ed25519_key" 2>/dev/null; then
			ok=1
			break
		fi
		sleep 0.1
	done
	[ $ok = 1 ] || die "VM $NAME did not answer on 127.0.0.1:$PORT"
	wait_ssh 120 || die "VM $NAME did not come back with its new host key"
}

case $MODE in
vm) start_vm ;;
*) start_nspawn ;;
esac

cat >"$D/env" <<EOF
NAME=$NAME
MODE=$MODE
ADDR=$ADDR
PORT=$PORT
DIR=$D
KEY=$KEY
KNOWN_HOSTS=$D/known_hosts.gen0
HOSTKEY=$HOSTKEY
IMAGE=$IMG
EOF
cat "$D/env"
echo "start: $NAME ($MODE) up in $(elapsed "$t0")s" >&2
