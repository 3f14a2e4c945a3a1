#!/bin/bash
# build.sh [--no-vm] [--check] [--force]: build the throwaway Debian 12 test-host image once.
#
# Installs the host tools it needs (Debian packages only), then builds into $GPUCTL_HOSTS_CACHE
# (default /var/cache/gpuctl-hosts, see lib.sh) keyed by a hash of this script and the client key, so
# editing this script rebuilds and re-running it is a no-op:
#   rootfs/   mmdebstrap bookworm: systemd, openssh-server, sudo, apt, kernel; users root, deploy, alice
#   nspawn/   overlay layer for systemd-nspawn hosts (units that must not run beside the machine masked)
#   vm/       raw ext4 disk, kernel, initrd and a pre-booted TCG template (disk overlay + RAM state)
# --no-vm skips vm/ (a later run without it adds vm/); --check exits 0 when the image is ready, 1 if not,
# without installing or building anything; --force rebuilds.
# Runs as root on Debian 12 with only the Debian mirror of /etc/apt/sources.list.d/debian.sources reachable.
set -euo pipefail
HOSTS_DIR=$(cd "$(dirname "$0")" && pwd)
. "$HOSTS_DIR/lib.sh"

want_vm=1 check=0 force=0
for a in "$@"; do
	case $a in
	--no-vm) want_vm=0 ;;
	--check) check=1 ;;
	--force) force=1 ;;
	*) die "unknown argument $a (usage: build.sh [--no-vm] [--check] [--force])" ;;
	esac
done

ready() { # ready DIR: the image in DIR has everything asked for
	[ -f "$1/READY" ] && { [ $want_vm = 0 ] || [ -f "$1/vm/READY" ]; }
}

if [ $check = 1 ]; then
	[ -f "$KEY.pub" ] && ready "$CACHE/images/$(image_hash)" && exit 0
	exit 1
fi
[ "$(id -u)" = 0 ] || die "must run as root"

# --- host tools -----------------------------------------------------------------------------------------
pkgs="mmdebstrap systemd-container openssh-client iproute2 util-linux e2fsprogs"
[ $want_vm = 1 ] && pkgs="$pkgs qemu-system-x86 qemu-utils socat"
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
	t=$(now)
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine may have no package lists yet; update only when an install fails.
	apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
	echo "build: installed $(echo $missing) in $(elapsed "$t")s"
fi

mkdir -p "$CACHE/images" "$RUN"
exec 9>"$CACHE/.build.lock"
flock 9
[ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C gpuctl-test-client -f "$KEY"
HASH=$(image_hash)
IMG=$CACHE/images/$HASH
[ $force = 1 ] && rm -rf "$IMG"
if ready "$IMG"; then
	ln -sfn "images/$HASH" "$CACHE/current"
	echo "build: image $HASH is up to date ($IMG)"
	exit 0
fi
t_all=$(now)

# --- rootfs ---------------------------------------------------------------------------------------------
build_rootfs() {
	rm -rf "$IMG"
	mkdir -p "$IMG"
	local R=$IMG/rootfs t
	t=$(now)
	# The machine's own apt sources (deb822 or one-line), so apt inside hosts reaches the same mirror.
	local src=/etc/apt/sources.list.d/debian.sources f
	if [ ! -f $src ]; then
		src=/etc/apt/sources.list
		grep -qs '^deb ' $src || src=$(ls /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
	fi
	[ -f "$src" ] || die "no Debian apt sources found on this machine"
	# Snapshot mirrors serve Release files past their Valid-Until; keep the machine's choice, in hosts too.
	local aptconf=""
	case $(apt-config dump) in *'Acquire::Check-Valid-Until "false"'*) aptconf='Acquire::Check-Valid-Until "false";' ;; esac
	mmdebstrap --mode=root --variant=minbase --skip=cleanup/apt/lists ${aptconf:+--aptopt="$aptconf"} \
		--include=systemd,systemd-sysv,dbus,libpam-systemd,udev,openssh-server,sudo,passwd,apt,ca-certificates,iproute2,kmod,procps,netbase,linux-image-amd64,initramfs-tools \
		bookworm "$R" "$src" >"$IMG/mmdebstrap.log" 2>&1 ||
		{ tail -20 "$IMG/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $IMG/mmdebstrap.log)"; }
	echo "build: mmdebstrap $(elapsed "$t")s"

	echo testhost >"$R/etc/hostname"
	# mmdebstrap stores the sources as 0000NAME; hosts should look like an installed Debian
	for f in "$R"/etc/apt/sources.list.d/0000*; do [ -e "$f" ] && mv "$f" "${f%/*}/${f##*/0000}"; done
	[ -z "$aptconf" ] || echo "$aptconf" >"$R/etc/apt/apt.conf.d/99gpuctl-test"
	rm -f "$R"/var/cache/apt/archives/*.deb
	# Host keys are per host: start.sh writes one before boot; gpuctl-hostkey.service makes one when none is there.
	rm -f "$R"/etc/ssh/ssh_host_*
	cat >"$R/etc/ssh/sshd_config.d/10-gpuctl-test.conf" <<-'EOF'
		HostKey /etc/ssh/ssh_host_ed25519_key
		PermitRootLogin prohibit-password
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UseDNS no
		MaxStartups 100:30:200
		MaxSessions 100
	EOF
	cat >"$R/etc/systemd/system/gpuctl-hostkey.service" <<-'EOF'
		[Unit]
		Description=Generate this test host's SSH host key
		Before=ssh.service
		ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
		[Service]
		Type=oneshot
		ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
		[Install]
		WantedBy=ssh.service
	EOF
	chroot "$R" systemctl enable -q gpuctl-hostkey.service

	# Users: root and deploy log in by key and sudo freely; alice must give her password to sudo.
	chroot "$R" useradd -m -s /bin/bash deploy
	chroot "$R" useradd -m -s /bin/bash -G sudo alice
	echo 'alice:alice-sudo-pw' | chroot "$R" chpasswd
	echo 'deploy ALL=(ALL:ALL) NOPASSWD: ALL' >"$R/etc/sudoers.d/deploy"
	chmod 0440 "$R/etc/sudoers.d/deploy"
	local u home
	for u in root deploy alice; do
		home=/home/$u
		[ $u = root ] && home=/root
		install -d -m 700 "$R$home/.ssh"
		install -m 600 "$KEY.pub" "$R$home/.ssh/authorized_keys"
		chroot "$R" chown -R "$u:$u" "$home/.ssh"
	done
	mkdir -p "$R/var/lib/gpuctl-test"
}

# --- nspawn layer ---------------------------------------------------------------------------------------
build_nspawn_layer() {
	# nspawn hosts share the machine's network namespace and /sys: anything that configures links or
	# devices would act on the machine itself, so it is masked; private-network hosts unmask networkd.
	local L=$IMG/nspawn/etc/systemd/system u
	mkdir -p "$L"
	for u in systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service \
		systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-udev-trigger.service \
		systemd-udev-settle.service getty@tty1.service console-getty.service serial-getty@ttyS0.service \
		systemd-timesyncd.service e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer; do
		ln -sfn /dev/null "$L/$u"
	done
}

# --- VM disk, kernel and pre-booted template ------------------------------------------------------------
build_vm() {
	local V=$IMG/vm t L M
	rm -rf "$V"
	mkdir -p "$V/layer/etc/systemd/network" "$V/layer/etc/systemd/system/multi-user.target.wants" "$V/merged"
	t=$(now)
	L=$V/layer
	echo "/dev/vda / ext4 defaults,discard 0 0" >"$L/etc/fstab"
	echo "nameserver 10.0.2.3" >"$L/etc/resolv.conf" # QEMU user networking's DNS
	printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$L/etc/systemd/network/20-dhcp.network"
	ln -sfn /lib/systemd/system/systemd-networkd.service "$L/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
	# apt's timers would wake up in every clone and take the dpkg lock under the tests
	ln -sfn /dev/null "$L/etc/systemd/system/apt-daily.timer"
	ln -sfn /dev/null "$L/etc/systemd/system/apt-daily-upgrade.timer"
	cp -L "$IMG"/rootfs/boot/vmlinuz-* "$V/vmlinuz"
	cp -L "$IMG"/rootfs/boot/initrd.img-* "$V/initrd.img"
	M=$V/merged
	mount -t overlay overlay -o "ro,lowerdir=$L:$IMG/rootfs" "$M"
	mkfs.ext4 -q -F -L rootfs -d "$M" "$V/base.raw" 4G >/dev/null || { umount "$M"; die "mkfs.ext4 failed"; }
	umount "$M"
	rmdir "$M"
	echo "build: vm disk $(elapsed "$t")s"

	# Template: boot once, then save disk + RAM; start.sh --vm clones it in about 2 s instead of a ~25 s boot.
	t=$(now)
	local port=$VM_PORT_BASE
	while ! port_free $port; do port=$((port + 1)); done
	qemu-img create -q -f qcow2 -b base.raw -F raw "$V/tmpl.qcow2"
	qemu_start "$V" "$V/tmpl.qcow2" $port
	local ok=0 i
	for i in $(seq 1 600); do
		if ssh -i "$KEY" -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR -o StrictHostKeyChecking=no \
			-o UserKnownHostsFile=/dev/null -p $port root@127.0.0.1 'systemctl is-system-running --wait >/dev/null; sync' 2>/dev/null; then
			ok=1
			break
		fi
		sleep 0.5
	done
	if [ $ok = 0 ]; then
		kill "$(cat "$V/qemu.pid")" 2>/dev/null || true
		tail -20 "$V/serial.log" >&2
		die "template VM did not come up (serial log: $V/serial.log)"
	fi
	echo "build: vm template boot $(elapsed "$t")s"
	hmp "$V/mon" stop >/dev/null
	hmp "$V/mon" "migrate -d exec:cat>$V/tmpl.state" >/dev/null
	for i in $(seq 1 300); do
		hmp "$V/mon" "info migrate" 0.2 | grep -q 'Migration status: completed' && break
		sleep 0.2
	done
	hmp "$V/mon" quit >/dev/null || true
	local pid
	pid=$(cat "$V/qemu.pid" 2>/dev/null || true)
	for i in $(seq 1 50); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	[ -s "$V/tmpl.state" ] || die "template RAM state was not saved"
	rm -f "$V/mon" "$V/qemu.pid"
	echo "build: vm template saved $(elapsed "$t")s"
	touch "$V/READY"
}

if [ ! -f "$IMG/READY" ]; then
	build_rootfs
	build_nspawn_layer
	touch "$IMG/READY"
fi
ln -sfn "images/$HASH" "$CACHE/current"
if [ $want_vm = 1 ] && [ ! -f "$IMG/vm/READY" ]; then
	build_vm
fi

# Older images go unless a running host still has one as its lower layer.
for d in "$CACHE"/images/*/; do
	d=${d%/}
	[ "$d" = "$IMG" ] && continue
	grep -qs "$d/" /proc/mounts && continue
	grep -qsF "$d" "$RUN"/*/env && continue
	rm -rf "$d"
done
echo "build: image $HASH ready in $(elapsed "$t_all")s ($(du -sh "$IMG" | cut -f1), $IMG)"
