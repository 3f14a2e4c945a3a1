#!/bin/sh
# gpu-modules.sh runs gpuctl's NVIDIA host modules on a machine with an
# NVIDIA GPU, in check mode, and records the raw outputs the parsers are
# tested against. It changes nothing on the host.
#
#   sh scripts/gpu-modules.sh build     # on a development machine with Go
#   OUT=/tmp/out sh scripts/gpu-modules.sh   # on the GPU machine, repo root
#
# build writes .devcarry/gpuctl (the CLI with the NVIDIA modules linked in)
# and .devcarry/nvidia.test (modules/nvidia's tests, for TestDevice, which
# also compares the facts with the model server's NVML probe). The GPU
# machine needs neither Go nor sshd: hosts use the local connection.
# With the device tool: run(command="sh scripts/gpu-modules.sh",
# carry=[".devcarry/gpuctl", ".devcarry/nvidia.test"]).
set -u
if [ "${1:-}" = build ]; then
	set -e
	mkdir -p .devcarry
	# Link the NVIDIA modules even where modules/all does not import them
	# yet, through a build overlay instead of an edit.
	overlay=""
	if ! grep -q modules/nvidia modules/all/all.go; then
		sed 's#^import (#import (\n\t_ "github.com/gpuctl/gpuctl/modules/nvidia"#' modules/all/all.go >.devcarry/nvidia-all.go
		printf '{"Replace":{"%s":"%s"}}\n' "$PWD/modules/all/all.go" "$PWD/.devcarry/nvidia-all.go" >.devcarry/nvidia-overlay.json
		overlay="-overlay=.devcarry/nvidia-overlay.json"
	fi
	export CGO_ENABLED=1
	go build $overlay -o .devcarry/gpuctl .
	go test -c -o .devcarry/nvidia.test ./modules/nvidia/
	ls -la .devcarry
	exit 0
fi
OUT=${OUT:-/tmp/gpu-modules-out}
CAP=$OUT/capture
mkdir -p "$CAP/sys"

say() { printf '\n=== %s\n' "$*"; }
cap() { # cap NAME CMD...: stdout+stderr of CMD into $CAP/NAME, and its rc
	name=$1; shift
	"$@" >"$CAP/$name" 2>&1
	echo "rc=$?" >>"$CAP/$name.rc"
}

say "host"
uname -a
grep PRETTY_NAME /etc/os-release

say "capture raw outputs into $CAP"
cap nvidia-smi.txt nvidia-smi
cap nvidia-smi-q.txt nvidia-smi -q
cap nvidia-smi-q.xml nvidia-smi -q -x
cap nvidia-smi-L.txt nvidia-smi -L
cap nvidia-smi-help-query-gpu.txt nvidia-smi --help-query-gpu
cap query-gpu.csv nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,memory.total,driver_version,compute_cap --format=csv,noheader,nounits
cap nvcc-version.txt sh -c 'command -v nvcc || ls /usr/local/cuda/bin/nvcc; /usr/local/cuda/bin/nvcc --version || nvcc --version'
cap proc-driver-nvidia-version.txt cat /proc/driver/nvidia/version
cap proc-driver-nvidia-gpus.txt sh -c 'for f in /proc/driver/nvidia/gpus/*/information; do echo "# $f"; cat "$f"; done'
cap sys-module-nvidia-version.txt cat /sys/module/nvidia/version
cap sys-module-list.txt sh -c 'ls /sys/module | grep -Ei "nvidia|nouveau"'
cap proc-modules.txt sh -c 'grep -Ei "nvidia|nouveau|drm" /proc/modules'
cap uname-r.txt uname -r
cap kernel-build.txt sh -c 'ls -la /lib/modules/$(uname -r)/ 2>&1; ls -la /lib/modules/$(uname -r)/build 2>&1'
cap mokutil.txt mokutil --sb-state
cap efivars.txt sh -c 'ls /sys/firmware/efi 2>&1; ls /sys/firmware/efi/efivars 2>&1 | grep -i secureboot; for f in /sys/firmware/efi/efivars/SecureBoot-*; do od -An -tx1 "$f"; done'
cap dev-nvidia.txt sh -c 'ls -la /dev/nvidia* /dev/dri 2>&1'
cap dpkg-nvidia.txt sh -c 'dpkg-query -W -f "\${Package} \${Version} \${Status}\n" "*nvidia*" "linux-headers-*" "cuda-*" 2>&1 | grep -v "not-installed" | head -100'
cap ldconfig-nvidia.txt sh -c 'ldconfig -p | grep -E "libnvidia-ml|libcuda\."'
cap which.txt sh -c 'for b in nvidia-smi nvcc ctr containerd nvidia-ctk nvidia-container-runtime mokutil modprobe update-initramfs dkms apt-get; do printf "%s: " $b; command -v $b || echo missing; done'
cap os-release.txt cat /etc/os-release
cap modprobe-d.txt sh -c 'grep -rs "" /etc/modprobe.d/ | grep -Ei "nouveau|nvidia"'
# sysfs: copy the attributes the fact gatherer reads, for every PCI device,
# so the fixture also holds the non-NVIDIA devices the filter must skip.
for d in /sys/bus/pci/devices/*; do
	b=$(basename "$d")
	mkdir -p "$CAP/sys/bus/pci/devices/$b"
	for a in vendor device class subsystem_vendor subsystem_device numa_node current_link_speed; do
		[ -r "$d/$a" ] && cat "$d/$a" >"$CAP/sys/bus/pci/devices/$b/$a" 2>/dev/null
	done
	[ -L "$d/driver" ] && basename "$(readlink "$d/driver")" >"$CAP/sys/bus/pci/devices/$b/driver.name"
done
for m in nvidia nvidia_uvm nvidia_drm nvidia_modeset nouveau; do
	if [ -d /sys/module/$m ]; then
		mkdir -p "$CAP/sys/module/$m"
		[ -r /sys/module/$m/version ] && cat /sys/module/$m/version >"$CAP/sys/module/$m/version"
		[ -r /sys/module/$m/initstate ] && cat /sys/module/$m/initstate >"$CAP/sys/module/$m/initstate"
	fi
done
mkdir -p "$CAP/proc/driver/nvidia"
cp /proc/driver/nvidia/version "$CAP/proc/driver/nvidia/version" 2>/dev/null
cat /proc/modules >"$CAP/proc/modules" 2>/dev/null
for f in nvidia-smi.txt query-gpu.csv proc-driver-nvidia-version.txt which.txt kernel-build.txt mokutil.txt efivars.txt proc-modules.txt dpkg-nvidia.txt; do
	say "$f"; cat "$CAP/$f"
done
say "NVIDIA PCI devices"
grep -l 0x10de "$CAP"/sys/bus/pci/devices/*/vendor | while read -r v; do
	d=$(dirname "$v"); echo "$(basename "$d") $(cat "$d/vendor") $(cat "$d/device") $(cat "$d/class") $(cat "$d/driver.name" 2>/dev/null)"
done
(cd "$OUT" && tar czf capture.tar.gz capture && rm -rf capture)

if [ -x .devcarry/nvidia.test ]; then
	say "gpuctl NVIDIA modules, check mode, local connection (go test binary)"
	(cd modules/nvidia && GPUCTL_DEVICE=1 OUT="$OUT" ../../.devcarry/nvidia.test -test.run 'TestDevice|Recorded' -test.v 2>&1) | tee "$OUT/device-test.log"
fi
if [ -x .devcarry/gpuctl ]; then
	pb=$(mktemp -d)
	cat >"$pb/hosts.yaml" <<'INV'
all:
  hosts:
    gpu-local:
      ansible_connection: local
INV
	cat >"$pb/site.yaml" <<'PLAY'
- name: NVIDIA host modules on the local GPU machine
  hosts: all
  tasks:
    - name: driver on the installed branch
      nvidia_driver:
        branch: "580"
        reboot: true
    - name: GPU works on the host
      gpu_check:
        nvcc: true
        min_cuda: "12.2"
    - name: container toolkit (no network here, so no repository)
      nvidia_container_toolkit:
        manage_repo: false
PLAY
	say "gpuctl facts -i hosts.yaml (gpu_* keys)"
	.devcarry/gpuctl facts -i "$pb/hosts.yaml" -o json >"$OUT/facts.json" 2>&1
	grep -E '"gpu_' "$OUT/facts.json" || cat "$OUT/facts.json"
	say "gpuctl run site.yaml -i hosts.yaml --check --diff"
	.devcarry/gpuctl run "$pb/site.yaml" -i "$pb/hosts.yaml" --check --diff --color never >"$OUT/run.log" 2>&1
	rc=$?
	cat "$OUT/run.log"
	echo "gpuctl run exit status: $rc"
	# Apply mode for the modules that must change nothing on a working GPU
	# host: the driver on its installed branch, and the checks.
	sed -n '1,/min_cuda/p' "$pb/site.yaml" >"$pb/apply.yaml"
	say "gpuctl run apply.yaml (driver + gpu_check, apply mode: must change nothing)"
	.devcarry/gpuctl run "$pb/apply.yaml" -i "$pb/hosts.yaml" --diff --color never >"$OUT/run-apply.log" 2>&1
	rc=$?
	cat "$OUT/run-apply.log"
	echo "gpuctl run exit status: $rc"
	rm -rf "$pb"
fi
exit 0
