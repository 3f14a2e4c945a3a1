#!/bin/bash
# bench/fleet/layer.sh: build (once) what the fleet benchmark puts on top of the test-host image, and
# print its directory. Cached under /var/cache/gpuctl-fleetbench/HASH (HASH: this script + the image).
#   HASH/layer/  read-only overlay layer shared by every bench host (start.sh GPUCTL_HOSTS_LOWER):
#                python3 and python3-apt (ansible-playbook needs them on the hosts; gpuctl does not),
#                a swap line in /etc/fstab for the swap tasks to comment out, daily timers masked
#   HASH/repo/   a flat apt repository (Packages, .debs) with the node packages the playbook installs
#                and the dependencies the image lacks, served to the hosts over HTTP by run.sh
# Needs root and test/hosts/build.sh's image.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKGS="jq conntrack socat ethtool"
IMG=$(readlink -f /var/cache/gpuctl-hosts/current)
[ -f "$IMG/READY" ] || { echo "layer.sh: no test-host image: run test/hosts/build.sh --no-vm" >&2; exit 1; }
HASH=$({ cat "$0"; echo "$IMG"; } | sha256sum | cut -c1-16)
OUT=/var/cache/gpuctl-fleetbench/$HASH
if [ -f "$OUT/READY" ]; then echo "$OUT"; exit 0; fi

rm -rf "$OUT" && mkdir -p "$OUT/layer" "$OUT/work" "$OUT/root" "$OUT/repo"
cleanup() {
	umount "$OUT/root/var/cache/apt/archives" 2>/dev/null || true
	umount "$OUT/root" 2>/dev/null || true
}
trap cleanup EXIT
mount -t overlay overlay -o "lowerdir=$IMG/nspawn:$IMG/rootfs,upperdir=$OUT/layer,workdir=$OUT/work" "$OUT/root"
# A plain nspawn command (no boot), on this machine's network, to reach the Debian mirror.
in_root() {
	SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=0 systemd-nspawn -q -D "$OUT/root" -M fleetbench-layer --register=no --keep-unit \
		--resolv-conf=copy-host --timezone=off --bind="$OUT/repo:/var/cache/apt/archives" \
		env DEBIAN_FRONTEND=noninteractive bash -ec "$1" >&2
}
in_root "apt-get install -y -q --no-install-recommends python3 python3-apt >/dev/null ||
	{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends python3 python3-apt >/dev/null; }"
# Only what a host with this layer would still need: the repository is all the hosts get.
in_root "rm -f /var/cache/apt/archives/*.deb && apt-get install -y -q --no-install-recommends --download-only $PKGS >/dev/null"
echo '/swap.img none swap sw 0 0' >>"$OUT/root/etc/fstab"
# Daily timers fire at midnight in every host at once (dpkg-db-backup, seen stalling a 200-host run).
for t in dpkg-db-backup e2scrub_all fstrim; do ln -sfn /dev/null "$OUT/root/etc/systemd/system/$t.timer"; done
umount "$OUT/root"
rm -rf "$OUT/layer/var/cache/apt/archives" "$OUT/layer/var/log" "$OUT/work" "$OUT/root"
rm -rf "$OUT/repo/partial" "$OUT/repo/lock"
(cd "$OUT/repo" && apt-ftparchive packages . >Packages && apt-ftparchive release . >Release)
touch "$OUT/READY"
echo "layer.sh: built $OUT ($(ls "$OUT/repo"/*.deb | wc -l) packages in the repository)" >&2
echo "$OUT"
