#!/bin/bash
# gpu-node-build.sh [build|pack|all]: on the development machine (root, Go, the Debian mirror and the Go module
# proxy), build everything scripts/gpu-node.sh needs on the GPU machine, which has no network, and pack it into
# xz parts small enough for the device tool (at most 64 MiB travel with one command).
#
#   build  into $GPUNODE_CACHE (default /var/cache/gpuctl-gpunode):
#            layer/upper   the node layer over test/cluster's (Debian 12, systemd, sshd, containerd, runc,
#                          iptables, CNI plugins): adds systemd-nspawn (the GPU machine has none; the node's
#                          own nspawn boots it) and curl, and the driver's loader path (ld.so.conf.d)
#            ctl/          what gpuctl needs on the machine it runs from: gpuctl and gpubench (cgo), mkimg,
#                          kubelet/kubeadm/kubectl, NVIDIA container toolkit binaries (nvidia/), image
#                          archives (images/: test/cluster's plus the NVIDIA device plugin and a glibc base
#                          for the GPU test pod), the Flannel manifest
#   pack   tar of node/ (the flattened root filesystem), ctl/ less ctl/bin, and ctl/bin, xz-compressed, split
#          into parts of $PART_MIB MiB (default 60) under $CARRY (default <repo>/.devcarry/gpunode/parts; the
#          device tool sends the session's own checkout, so point CARRY into that one)
#   sends  the parts grouped into one folder per device-tool call ($CARRY/../send/NN)
#
# Then, on the GPU machine, one device-tool call per group:
#   run(command="gpu-node.sh recv .devcarry/gpunode/send/NN/*", carry=[".devcarry/gpunode/send/NN"]) ...,
#   the last with "&& gpu-node.sh all".
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
. "$REPO/test/cluster/env.sh"
G=${GPUNODE_CACHE:-/var/cache/gpuctl-gpunode}
CARRY=${CARRY:-$REPO/.devcarry/gpunode/parts}
PART_MIB=${PART_MIB:-60}
TOOLKIT_VERSION=${TOOLKIT_VERSION:-v1.18.0}
DEVICE_PLUGIN_VERSION=${DEVICE_PLUGIN_VERSION:-v0.18.2}
GLIBC_IMAGE=docker.io/gpuctl/glibc-base:bookworm
export GOFLAGS=-buildvcs=false
[ "$(id -u)" = 0 ] || die "must run as root"

build_layer() {
	local IMG L=$G/layer M
	IMG=$(readlink -f "$HOSTS_CACHE/current")
	[ -f "$L/READY" ] && return 0
	rm -rf "$L"
	mkdir -p "$L/upper" "$L/work" "$L/merged"
	M=$L/merged
	mount -t overlay overlay -o "lowerdir=$(readlink -f "$CCACHE/layer-current")/upper:$IMG/nspawn:$IMG/rootfs,upperdir=$L/upper,workdir=$L/work" "$M"
	SYSTEMD_SECCOMP=0 systemd-nspawn -q -D "$M" -M gpunode-layer --register=no --keep-unit --resolv-conf=copy-host --timezone=off /bin/sh -c '
		export DEBIAN_FRONTEND=noninteractive
		pk="systemd-container curl"
		apt-get install -y -q --no-install-recommends $pk >/tmp/apt.log 2>&1 ||
			{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $pk >/tmp/apt.log 2>&1; } ||
			{ tail -20 /tmp/apt.log; exit 1; }
		rm -f /var/cache/apt/archives/*.deb /tmp/apt.log' || { umount "$M"; die "apt-get install in the gpunode layer failed"; }
	rmdir /run/systemd/nspawn/propagate/gpunode-layer 2>/dev/null || true
	rm -f "$M/etc/resolv.conf"
	local S=$M/etc/systemd/system
	# test/cluster's cgroup v1 remount has nothing to do on a cgroup v2 host (the GPU machine).
	mkdir -p "$S/e2e-cgroup-rw.service.d"
	printf '[Unit]\nConditionPathIsMountPoint=/sys/fs/cgroup/systemd\n' >"$S/e2e-cgroup-rw.service.d/cgroup-v1-only.conf"
	# The GPU machine's driver lives in /usr/local/nvidia (bound into the node): its loader path, as a driver
	# package would set it, and the cache rebuilt at boot, once the bind mount is there.
	echo /usr/local/nvidia/lib64 >"$M/etc/ld.so.conf.d/000-nvidia-driver.conf"
	cat >"$S/gpunode-ldconfig.service" <<-'U'
		[Unit]
		Description=Loader cache with the driver libraries bound into this node
		DefaultDependencies=no
		After=local-fs.target
		Before=sysinit.target containerd.service kubelet.service ssh.service
		[Service]
		Type=oneshot
		RemainAfterExit=yes
		ExecStart=/sbin/ldconfig
		[Install]
		WantedBy=sysinit.target
	U
	ln -sfn ../gpunode-ldconfig.service "$S/sysinit.target.wants/gpunode-ldconfig.service"
	umount "$M"
	rm -rf "$L/work" "$M"
	touch "$L/READY"
}

gobuild() { # gobuild OUT PKG@VERSION LDFLAGS: cgo binaries linked as their upstream Makefiles do
	local gb=$G/src/gobin
	mkdir -p "$gb"
	(cd "$G/src" && CGO_ENABLED=1 GOBIN=$gb go install -ldflags "$3" "$2")
	mv "$gb/$(basename "${2%@*}")" "$1"
}

build_ctl() {
	local C=$G/ctl EXT='-Wl,--export-dynamic -Wl,--unresolved-symbols=ignore-in-object-files -Wl,-z,lazy'
	mkdir -p "$C/bin" "$C/kube" "$C/nvidia" "$C/images" "$G/src"
	(cd "$REPO" && CGO_ENABLED=1 go build -ldflags '-s -w' -o "$C/bin/gpuctl" . &&
		CGO_ENABLED=1 go build -ldflags '-s -w' -o "$C/bin/gpubench" ./runtime/cmd/gpubench)
	cp "$CBIN/mkimg" "$C/bin/mkimg"
	cp "$K8S_BIN/kubelet" "$K8S_BIN/kubeadm" "$K8S_BIN/kubectl" "$C/kube/"
	local T=github.com/NVIDIA/nvidia-container-toolkit c
	for c in nvidia-ctk nvidia-container-runtime nvidia-cdi-hook; do
		[ -x "$C/nvidia/$c" ] || gobuild "$C/nvidia/$c" "$T/cmd/$c@$TOOLKIT_VERSION" "-s -w '-extldflags=$EXT' -X $T/internal/info.version=${TOOLKIT_VERSION#v}"
	done
	local P=github.com/NVIDIA/k8s-device-plugin
	[ -x "$G/src/nvidia-device-plugin" ] || gobuild "$G/src/nvidia-device-plugin" "$P/cmd/nvidia-device-plugin@$DEVICE_PLUGIN_VERSION" \
		"-s -w '-extldflags=$EXT' -X $P/internal/info.version=$DEVICE_PLUGIN_VERSION"
	# test/cluster's archives, less its test-tools image; then the two built here on a glibc tree (Debian's
	# iptables userland tree of test/cluster/build.sh: libc, ldconfig), with the environment NVIDIA's images set.
	local i IPT=$CCACHE/src/ipt-root
	for i in "$(readlink -f "$CCACHE/images-current")"/*.tar; do
		case $(basename "$i") in e2e-tools.tar) ;; *) cp "$i" "$C/images/" ;; esac
	done
	[ -x "$IPT/sbin/ldconfig" ] || [ -x "$IPT/usr/sbin/ldconfig" ] || die "no ldconfig in $IPT"
	"$CBIN/mkimg" -t "nvcr.io/nvidia/k8s-device-plugin:$DEVICE_PLUGIN_VERSION" -o "$C/images/nvidia-device-plugin.tar" -rootdir "$IPT" \
		-env NVIDIA_DISABLE_REQUIRE=true -env NVIDIA_VISIBLE_DEVICES=all -env NVIDIA_DRIVER_CAPABILITIES=compute,utility \
		-entrypoint /usr/bin/nvidia-device-plugin "$G/src/nvidia-device-plugin:/usr/bin/nvidia-device-plugin"
	"$CBIN/mkimg" -t "$GLIBC_IMAGE" -o "$C/images/glibc-base.tar" -rootdir "$IPT" -dir /tmp:1777 \
		-env NVIDIA_VISIBLE_DEVICES=all -env NVIDIA_DRIVER_CAPABILITIES=compute,utility
	cp "$REPO/test/e2e/testdata/flannel.yaml" "$C/flannel.yaml.in"
	printf 'FLANNEL_IMAGE=%s\nKUBE_VERSION=%s\nGLIBC_IMAGE=%s\n' "$FLANNEL_IMAGE" "$K8S_VERSION" "$GLIBC_IMAGE" >"$C/versions.env"
	du -sh "$C"/*
}

# pack [node|ctl|bin]: each tree its own xz stream, split into parts NAME00, NAME01, ... Node parts rarely change,
# ctl parts (kube binaries, images, toolkit) change with their versions, bin (ctl/bin: gpuctl, gpubench, mkimg)
# with every gpuctl fix: only bin needs sending again then (one call).
pack() {
	local S=$G/stage IMG t0 what
	IMG=$(readlink -f "$HOSTS_CACHE/current")
	mkdir -p "$S/node" "$CARRY"
	for what in ${*:-node ctl bin}; do
		t0=$(now)
		rm -f "$CARRY/$what"[0-9][0-9]
		if [ "$what" = node ]; then
			mountpoint -q "$S/node" || mount -t overlay overlay -o "ro,lowerdir=$G/layer/upper:$(readlink -f "$CCACHE/layer-current")/upper:$IMG/nspawn:$IMG/rootfs" "$S/node"
			# The node needs no kernel, modules or documentation: the GPU machine's kernel runs it.
			tar -C "$S" --numeric-owner --xattrs -c \
				--exclude=node/usr/lib/modules --exclude=node/boot --exclude=node/usr/share/doc --exclude=node/usr/share/man \
				--exclude=node/usr/share/info --exclude=node/usr/share/locale --exclude='node/var/cache/apt/*.bin' \
				--exclude=node/vmlinuz --exclude=node/vmlinuz.old --exclude=node/initrd.img --exclude=node/initrd.img.old node
		elif [ "$what" = ctl ]; then
			tar -C "$G" --numeric-owner --exclude=ctl/bin -c ctl
		else
			tar -C "$G" --numeric-owner -c ctl/bin
		fi | xz -T2 -"${XZ_LEVEL:-6}" | split -b "${PART_MIB}M" -d -a 2 - "$CARRY/$what"
		mountpoint -q "$S/node" && umount "$S/node"
		echo "pack: $what in $(elapsed "$t0")s" >&2
	done
	(cd "$CARRY" && sha256sum node[0-9][0-9] ctl[0-9][0-9] bin[0-9][0-9] >SHA256SUMS)
	ls -la "$CARRY"
}

# sends [PART...]: the parts (default all) grouped for the device tool, first fit by decreasing size, each group
# at most $PART_MIB MiB (the working tree travels with every call and the whole must stay under 64 MiB):
# $CARRY/../send/NN/, hard links, each group one call's carry; SHA256SUMS goes with the last group.
sends() {
	local S=$CARRY/../send cap=$((PART_MIB << 20)) p sz g n=0 used=()
	rm -rf "$S"
	[ $# -gt 0 ] || set -- $(cd "$CARRY" && ls node[0-9][0-9] ctl[0-9][0-9] bin[0-9][0-9])
	while read -r sz p; do
		for ((g = 0; g < n; g++)); do [ $((used[g] + sz)) -le "$cap" ] && break; done
		[ "$g" = "$n" ] && { n=$((n + 1)); used[g]=0; }
		used[g]=$((used[g] + sz))
		mkdir -p "$S/$(printf %02d "$g")"
		ln -f "$CARRY/$p" "$S/$(printf %02d "$g")/$p"
	done < <(cd "$CARRY" && stat -c '%s %n' "$@" | sort -rn)
	ln -f "$CARRY/SHA256SUMS" "$S/$(printf %02d $((n - 1)))/SHA256SUMS"
	du -sh "$S"/*
}

case ${1:-all} in
layer) build_layer ;;
ctl) build_ctl ;;
build) build_layer; build_ctl ;;
pack) shift; pack "$@" ;;
sends) shift; sends "$@" ;;
all) build_layer; build_ctl; pack ;;
*) die "usage: gpu-node-build.sh [layer|ctl|build|pack [node|ctl|bin]...|sends [PART...]|all]" ;;
esac
