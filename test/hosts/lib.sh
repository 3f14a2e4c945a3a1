# Shared settings for the test-host scripts; sourced, not run.
#
#   GPUCTL_HOSTS_CACHE  cache root: client key, images, running hosts (default /var/cache/gpuctl-hosts)
#
# Layout under the cache root:
#   id_ed25519{,.pub}     the one client key; its public half is baked into every image
#   images/HASH/          one build of build.sh (HASH = its sha256 + the key): rootfs/, nspawn/, vm/, READY
#   current -> images/HASH
#   run/NAME/             one running host: overlay dirs, pids, known_hosts, env
#   run/.slots/N          address slot N is taken (mkdir is the atomic allocator)

CACHE=${GPUCTL_HOSTS_CACHE:-/var/cache/gpuctl-hosts}
RUN=$CACHE/run
KEY=$CACHE/id_ed25519
SLOTS=$RUN/.slots
# Addresses: nspawn hosts listen on 127.0.$NET_OCTET.N:22, VMs are forwarded from 127.0.0.1:$((VM_PORT_BASE + N)),
# private-network hosts get $BRIDGE_NET.N on bridge $BRIDGE.
NET_OCTET=10
VM_PORT_BASE=22000
BRIDGE=gpuctl-br0
BRIDGE_NET=10.88.0
VM_MEM=${GPUCTL_HOSTS_VM_MEM:-1024}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

# image_hash prints the key under which build.sh's output is cached: a changed build script, VM command
# line (a saved template only resumes on the same devices) or client key gives a new image.
image_hash() {
	{ cat "$HOSTS_DIR/build.sh" "$KEY.pub" 2>/dev/null; declare -f qemu_start; } | sha256sum | cut -c1-16
}

ssh_opts() { # ssh_opts KNOWN_HOSTS PORT
	echo "-i $KEY -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR" \
		"-o StrictHostKeyChecking=yes -o UserKnownHostsFile=$1 -o GlobalKnownHostsFile=/dev/null -p $2"
}

# hmp SOCK CMD: one QEMU human-monitor command; prints its output.
hmp() {
	{ printf '%s\n' "$2"; sleep "${3:-0.3}"; } | socat -t 2 - "UNIX-CONNECT:$1" 2>/dev/null | tr -d '\r'
}

# host_var NAME VAR: one value from a running host's env file.
host_var() { sed -n "s/^$2=//p" "$RUN/$1/env" 2>/dev/null; }

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! ss -Htln "sport = :$1" | grep -q .; }

# qemu_start DIR DISK PORT [ARGS...]: start a daemonized TCG VM from the image's kernel with the VM's files
# (pid, monitor, serial log) in DIR. Templates and clones must use the same devices, so both come through here.
qemu_start() {
	local dir=$1 disk=$2 port=$3; shift 3
	qemu-system-x86_64 -accel tcg,tb-size=256 -m "$VM_MEM" -smp 1 \
		-kernel "$IMG/vm/vmlinuz" -initrd "$IMG/vm/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 quiet" \
		-drive "file=$disk,if=virtio,format=qcow2,discard=unmap" \
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=n0 \
		-device virtio-balloon-pci,free-page-reporting=on \
		-serial "file:$dir/serial.log" -monitor "unix:$dir/mon,server,nowait" -display none \
		-pidfile "$dir/qemu.pid" -daemonize "$@"
}

# kill_payload DIR: SIGKILL every process of an nspawn host except systemd-nspawn itself, all at the same
# instant (frozen first, so none can answer or fork in between), and wait until its init is gone.
kill_payload() {
	local D=$1 g p n i fz=""
	n=$(cat "$D/nspawn.pid" 2>/dev/null)
	for g in $(cat "$D/cgroups" 2>/dev/null); do [ -f "$g/freezer.state" ] && fz=$g; done
	[ -n "$fz" ] && [ -d "$fz" ] || return 0
	echo FROZEN >"$fz/freezer.state"
	for p in $(find "$fz" -name cgroup.procs -exec cat {} + 2>/dev/null); do
		[ "$p" = "$n" ] || kill -9 "$p" 2>/dev/null
	done
	echo THAWED >"$fz/freezer.state"
	p=$(cat "$D/init.pid" 2>/dev/null)
	for i in $(seq 1 200); do [ -n "$p" ] && kill -0 "$p" 2>/dev/null || break; sleep 0.01; done
	return 0
}
