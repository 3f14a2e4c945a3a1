#!/bin/bash
# build.sh [--check]: build everything the real-cluster end-to-end test needs, once, into a cache outside git
# ($GPUCTL_CLUSTER_CACHE, default /var/cache/gpuctl-cluster). Only the Go module proxy and the Debian mirror are
# used; re-running when up to date takes about a second.
#   1. the test-host image (test/hosts/build.sh --no-vm) and the Kubernetes binaries of test/k8s/build.sh
#      (kube-apiserver, -controller-manager, -scheduler, kubectl, etcd) plus kubelet, kubeadm and kube-proxy
#      (modules/node/testdata/build-kubeadm.sh, same scratch module and Go build cache: nothing is compiled twice)
#   2. bin/: crictl, coredns, flanneld (Flannel's own main.go minus two backends the module proxy cannot serve),
#      e2etools (pause, CNI config writer, test HTTP server and client) and mkimg, each stamped with its version
#   3. images/KEY/*.tar: OCI image archives tagged as kubeadm $K8S_VERSION expects (registry.k8s.io/...), plus
#      Flannel's and the test image, built FROM scratch with go-containerregistry (mkimg)
#   4. layer/KEY/: the node layer over the test-host rootfs: containerd, runc, iptables, CNI plugins and the
#      kubelet's helper tools from Debian, crictl, and the units a node container needs (see README.md)
# --check exits 0 when everything is built for the current sources, 1 if not, building nothing.
set -euo pipefail
. "$(dirname "$0")/env.sh"
check=0
case ${1:-} in --check) check=1 ;; "") ;; *) die "usage: build.sh [--check]" ;; esac

# Keys: images depend on the binaries and on this script, the layer on the test-host image and this script.
key_images() { { cat "$CLUSTER_DIR/build.sh" "$CLUSTER_DIR/env.sh"; cat "$CBIN"/.*.version "$K8S_BIN"/.*.version 2>/dev/null; } | sha256sum | cut -c1-12; }
key_layer() { { cat "$CLUSTER_DIR/build.sh"; readlink -f "$HOSTS_CACHE/current"; } | sha256sum | cut -c1-12; }
srchash() { find "$REPO_ROOT/internal/clustertest/cmd" -name '*.go' -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-12; }
have() { [ -x "$CBIN/$1" ] && [ "$(cat "$CBIN/.$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$CBIN/.$1.version"; }
timed() { local l=$1 s; s=$(now); shift; "$@"; echo "build: $l $(elapsed "$s")s" >&2; }

if [ $check = 1 ]; then
	"$REPO_ROOT/test/hosts/build.sh" --check --no-vm || exit 1
	for b in kubelet kubeadm kube-proxy kubectl kube-apiserver kube-controller-manager kube-scheduler etcd; do [ -x "$K8S_BIN/$b" ] || exit 1; done
	have crictl $CRICTL_VERSION && have coredns $COREDNS_VERSION && have flanneld $FLANNEL_VERSION && have e2etools "$(srchash)" || exit 1
	[ -f "$CCACHE/images/$(key_images)/READY" ] && [ -f "$CCACHE/layer/$(key_layer)/READY" ] && exit 0
	exit 1
fi
[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$CBIN" "$CCACHE/src"
exec 9>"$CCACHE/.build.lock"
flock 9
t_all=$(now)
export CGO_ENABLED=0

# --- 1. test-host image and Kubernetes binaries ----------------------------------------------------------
timed "test-host image" "$REPO_ROOT/test/hosts/build.sh" --no-vm >&2
timed "control-plane binaries" "$REPO_ROOT/test/k8s/build.sh" >&2
timed "kubelet kubeadm" "$REPO_ROOT/modules/node/testdata/build-kubeadm.sh" kubeadm kubelet >&2
# kube-proxy comes from the same scratch module; its packages need a few more go.sum entries than kubelet's.
nodemod=$SRC/k8s-$K8S_VERSION-node
if ! grep -q 'cmd/kube-proxy"' "$nodemod/tools.go"; then
	sed -i 's|^\t_ "k8s.io/kubernetes/cmd/kubelet"$|&\n\t_ "k8s.io/kubernetes/cmd/kube-proxy"|' "$nodemod/tools.go"
	(cd "$nodemod" && go mod tidy >/dev/null 2>&1) || die "go mod tidy for kube-proxy failed in $nodemod"
fi
timed "kube-proxy" "$REPO_ROOT/modules/node/testdata/build-kubeadm.sh" kube-proxy >&2

# --- 2. other binaries -------------------------------------------------------------------------------------
gobin_install() { # gobin_install NAME PKG@VERSION: go install into bin/ (plain `go install` works for these)
	local gb=$CCACHE/src/gobin-$1
	mkdir -p "$gb"
	(cd "$CCACHE/src" && GOBIN=$gb go install -ldflags "-s -w" "$2")
	mv "$gb/$(basename "${2%@*}")" "$CBIN/$1"
}
if ! have crictl $CRICTL_VERSION; then
	timed "crictl $CRICTL_VERSION" gobin_install crictl "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
	stamp crictl $CRICTL_VERSION
fi
if ! have coredns $COREDNS_VERSION; then
	timed "coredns $COREDNS_VERSION" gobin_install coredns "github.com/coredns/coredns@$COREDNS_VERSION"
	stamp coredns $COREDNS_VERSION
fi
build_flannel() {
	# Flannel's main package imports every backend; two cannot be built here: tencentvpc (its SDK is refused by
	# the module proxy) and udp (needs cgo). A scratch module builds Flannel's own main.go without those imports
	# (a require, not `go get`, which would resolve Flannel's main package and its tencent import).
	local d=$CCACHE/src/flannel-$FLANNEL_VERSION
	if [ ! -f "$d/go.sum" ]; then
		rm -rf "$d"
		mkdir -p "$d"
		local m
		m=$(go mod download -json "github.com/flannel-io/flannel@$FLANNEL_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
		grep -v -e 'pkg/backend/tencentvpc"' -e 'pkg/backend/udp"' "$m/main.go" >"$d/main.go"
		(cd "$d" && go mod init example.com/gpuctl-flannel >/dev/null 2>&1 &&
			go mod edit -require="github.com/flannel-io/flannel@$FLANNEL_VERSION" && go mod tidy >/dev/null 2>&1) ||
			{ rm -f "$d/go.sum"; die "flannel scratch module failed"; }
	fi
	(cd "$d" && go build -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" -o "$CBIN/flanneld" .)
}
if ! have flanneld $FLANNEL_VERSION; then
	timed "flanneld $FLANNEL_VERSION" build_flannel
	stamp flanneld $FLANNEL_VERSION
fi
sh_=$(srchash)
if ! have e2etools "$sh_"; then
	(cd "$REPO_ROOT" && timed "e2etools, mkimg" go build -ldflags "-s -w" -o "$CBIN/" ./internal/clustertest/cmd/e2etools ./internal/clustertest/cmd/mkimg)
	stamp e2etools "$sh_"
fi

# --- 3. image archives -------------------------------------------------------------------------------------
build_images() {
	local O=$1 R=$REGISTRY V=$K8S_VERSION
	rm -rf "$O"
	mkdir -p "$O"
	# kube-proxy and flanneld program iptables: they get Debian's iptables/nftables/conntrack userland.
	local IPT=$CCACHE/src/ipt-root
	if [ ! -x "$IPT/usr/sbin/xtables-nft-multi" ]; then
		rm -rf "$IPT"
		mmdebstrap --quiet --variant=extract --include=iptables,nftables,conntrack,libc-bin bookworm "$IPT" \
			/etc/apt/sources.list.d/debian.sources >"$CCACHE/src/ipt-root.log" 2>&1 || die "mmdebstrap iptables tree failed"
		local n
		for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do ln -sf xtables-nft-multi "$IPT/usr/sbin/$n"; done
		rm -rf "$IPT"/usr/share/doc "$IPT"/usr/share/man "$IPT"/usr/share/locale "$IPT"/var/cache/apt
	fi
	local mk=$CBIN/mkimg
	"$mk" -t $R/pause:$PAUSE_VERSION -o "$O/pause.tar" -entrypoint /pause "$CBIN/e2etools:/pause"
	local c
	for c in kube-apiserver kube-controller-manager kube-scheduler; do
		"$mk" -t "$R/$c:$V" -o "$O/$c.tar" -dir /tmp:1777 "$K8S_BIN/$c:/usr/local/bin/$c"
	done
	"$mk" -t "$R/etcd:$ETCD_IMAGE_TAG" -o "$O/etcd.tar" -dir /tmp:1777 -dir /var/lib/etcd:0700 "$K8S_BIN/etcd:/usr/local/bin/etcd"
	"$mk" -t "$R/kube-proxy:$V" -o "$O/kube-proxy.tar" -rootdir "$IPT" "$K8S_BIN/kube-proxy:/usr/local/bin/kube-proxy"
	"$mk" -t "$R/coredns/coredns:$COREDNS_VERSION" -o "$O/coredns.tar" -entrypoint /coredns -dir /tmp:1777 "$CBIN/coredns:/coredns"
	"$mk" -t "$FLANNEL_IMAGE" -o "$O/flannel.tar" -rootdir "$IPT" -entrypoint /opt/bin/flanneld \
		"$CBIN/flanneld:/opt/bin/flanneld" "$CBIN/e2etools:/opt/bin/e2etools"
	"$mk" -t "$TOOLS_IMAGE" -o "$O/e2e-tools.tar" -dir /tmp:1777 -entrypoint /e2etools "$CBIN/e2etools:/e2etools"
	touch "$O/READY"
}
KI=$(key_images)
if [ ! -f "$CCACHE/images/$KI/READY" ]; then
	timed "image archives" build_images "$CCACHE/images/$KI"
fi
ln -sfn "images/$KI" "$CCACHE/images-current"

# --- 4. node layer -----------------------------------------------------------------------------------------
build_layer() {
	local L=$1 IMG M
	IMG=$(readlink -f "$HOSTS_CACHE/current")
	rm -rf "$L"
	mkdir -p "$L/upper" "$L/work" "$L/merged"
	M=$L/merged
	mount -t overlay overlay -o "lowerdir=$IMG/nspawn:$IMG/rootfs,upperdir=$L/upper,workdir=$L/work" "$M"
	# The image ships package lists, so no apt-get update; they stay, so gpuctl's apt checks work offline.
	SYSTEMD_SECCOMP=0 systemd-nspawn -q -D "$M" -M gpuctl-e2e-layer --register=no --keep-unit --resolv-conf=copy-host --timezone=off /bin/sh -c '
		export DEBIAN_FRONTEND=noninteractive
		pk="containerd runc iptables conntrack containernetworking-plugins ethtool socat ebtables kmod iproute2"
		apt-get install -y -q --no-install-recommends $pk >/tmp/apt.log 2>&1 ||
			{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $pk >/tmp/apt.log 2>&1; } ||
			{ tail -20 /tmp/apt.log; exit 1; }
		rm -f /var/cache/apt/archives/*.deb /tmp/apt.log' || { umount "$M"; die "apt-get install in the node layer failed"; }
	rmdir /run/systemd/nspawn/propagate/gpuctl-e2e-layer 2>/dev/null || true # nspawn without systemd leaves it
	rm -f "$M/etc/resolv.conf"
	install -m 755 "$CBIN/crictl" "$M/usr/local/bin/crictl"
	echo 'runtime-endpoint: unix:///run/containerd/containerd.sock' >"$M/etc/crictl.yaml"
	# Debian puts the CNI plugins in /usr/lib/cni; containerd's default bin_dir is /opt/cni/bin.
	mkdir -p "$M/opt/cni" "$M/opt/e2e/images" "$M/var/lib/systemd/linger"
	# root's user manager stays up: stopping it after the last logout hangs for minutes in a node container
	# (processes left in its cgroup after SIGKILL), and every login meanwhile waits for it.
	touch "$M/var/lib/systemd/linger/root"
	ln -sfn /usr/lib/cni "$M/opt/cni/bin"
	local S=$M/etc/systemd/system
	mkdir -p "$S/sysinit.target.wants" "$S/multi-user.target.wants"
	# nspawn mounts the cgroup v1 controllers read-only (even with SYSTEMD_NSPAWN_API_VFS_WRITABLE); the kubelet
	# must create kubepods.slice in them.
	cat >"$S/e2e-cgroup-rw.service" <<-'U'
		[Unit]
		Description=Remount the cgroup v1 hierarchies read-write (node container of the e2e fixture)
		DefaultDependencies=no
		Before=sysinit.target containerd.service kubelet.service
		[Service]
		Type=oneshot
		RemainAfterExit=yes
		ExecStart=/bin/sh -c 'mount -o remount,rw /sys/fs/cgroup; for c in /sys/fs/cgroup/*/; do mount -o remount,rw,bind $c; done'
		[Install]
		WantedBy=sysinit.target
	U
	# The node's address on the bridge (nspawn --network-bridge gives it the veth host0).
	cat >"$S/e2e-net.service" <<-'U'
		[Unit]
		Description=Static address on host0 from /etc/e2e-node.env (node container of the e2e fixture)
		DefaultDependencies=no
		Before=network-online.target ssh.service containerd.service kubelet.service
		ConditionPathExists=/etc/e2e-node.env
		[Service]
		Type=oneshot
		RemainAfterExit=yes
		EnvironmentFile=/etc/e2e-node.env
		ExecStart=/bin/sh -c 'ip link set lo up; ip addr add $NODE_CIDR dev host0; ip link set host0 up; ip route add default via $GW'
		[Install]
		WantedBy=sysinit.target
	U
	# Until gpuctl imports image archives itself, the fixture imports them (up.sh --import-images enables this).
	cat >"$S/e2e-images.service" <<-'U'
		[Unit]
		Description=Import the fixture's image archives into containerd (k8s.io namespace)
		After=containerd.service
		Requires=containerd.service
		[Service]
		Type=oneshot
		RemainAfterExit=yes
		ExecStart=/bin/sh -c 'for i in $(seq 1 100); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done; for f in /opt/e2e/images/*.tar; do ctr -n k8s.io images import "$f" >/dev/null || exit 1; done'
		[Install]
		WantedBy=multi-user.target
	U
	ln -sfn ../e2e-cgroup-rw.service "$S/sysinit.target.wants/e2e-cgroup-rw.service"
	ln -sfn ../e2e-net.service "$S/sysinit.target.wants/e2e-net.service"
	umount "$M"
	rm -rf "$L/work" "$M"
	echo "build: node layer $(du -sh "$L/upper" | cut -f1)" >&2
	touch "$L/READY"
}
KL=$(key_layer)
if [ ! -f "$CCACHE/layer/$KL/READY" ]; then
	timed "node layer" build_layer "$CCACHE/layer/$KL"
fi
ln -sfn "layer/$KL" "$CCACHE/layer-current"
# older builds go unless a running node still uses them
for d in "$CCACHE"/images/*/ "$CCACHE"/layer/*/; do
	d=${d%/}
	case $d in "$CCACHE/images/$KI" | "$CCACHE/layer/$KL") continue ;; esac
	grep -qsF "$d" /proc/mounts && continue
	rm -rf "$d"
done
echo "build: cluster artifacts ready in $(elapsed "$t_all")s ($CCACHE)" >&2
