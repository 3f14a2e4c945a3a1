#!/bin/bash
# Starts a real control plane on loopback: etcd (data on tmpfs), kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (simulated kubelets).
# Every process is PID-tracked under $RUN/pids; down.sh stops exactly those.
# Prints the admin kubeconfig path on the last line of stdout.
#
#   GPUCTL_K8S_RUN          run dir (PKI, logs, pids)       (default /tmp/gpuctl-k8s)
#   GPUCTL_K8S_*_PORT       ports, see env.sh
#   GPUCTL_K8S_WATCH_PID    tear everything down when this process exits
#                           (the Go test helper passes the test binary's pid)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/env.sh"

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
	[ -x "$BIN/$b" ] || { echo "up: $BIN/$b missing; run test/k8s/build.sh first" >&2; exit 2; }
done
mkdir -p "$RUN/pids" "$RUN/logs"
if ls "$RUN"/pids/*.pid >/dev/null 2>&1; then
	echo "up: $RUN already has running components; stopping them first" >&2
	"$HERE/down.sh"
	mkdir -p "$RUN/pids" "$RUN/logs"
fi
trap 'echo "up: failed; logs in $RUN/logs" >&2; "$HERE/down.sh" >&2' ERR

if [ -n "${GPUCTL_K8S_WATCH_PID:-}" ]; then
	# A test binary killed by a timeout never runs its cleanup, possibly
	# while this script is still starting things: stop this script (only
	# while it is still starting, so a recycled pid is never hit), then
	# everything it recorded; a throwaway run dir goes too.
	touch "$RUN/starting"
	setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
		[ -f "$3/starting" ] && kill "$2" 2>/dev/null && sleep 0.5
		GPUCTL_K8S_RUN="$3" "$4/down.sh"
		[ "$5" = 1 ] && rm -rf "$3"' _ \
		"$GPUCTL_K8S_WATCH_PID" "$$" "$RUN" "$HERE" "${GPUCTL_K8S_RUN_EPHEMERAL:-0}" > "$RUN/logs/watchdog.log" 2>&1 < /dev/null &
	echo $! > "$RUN/watchdog.pid"
fi

SERVER=https://127.0.0.1:$APISERVER_PORT
P=$RUN/pki
"$HERE/pki.sh" "$P" "$SERVER"
ADMIN_TOKEN=$(awk -F, '$2=="admin"{print $1}' "$P/tokens.csv")

t0=$(date +%s.%N)
since() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# start NAME CMD...: run detached in its own session so a test runner's
# process group signals do not reach it; the pid file is the only handle.
start() {
	local name=$1; shift
	setsid "$@" > "$RUN/logs/$name.log" 2>&1 < /dev/null &
	echo $! > "$RUN/pids/$name.pid"
}
alive() { kill -0 "$(cat "$RUN/pids/$1.pid")" 2>/dev/null || { echo "up: $1 exited:" >&2; tail -20 "$RUN/logs/$1.log" >&2; return 1; }; }
# wait_for NAME SECONDS CMD...: poll CMD until it succeeds while NAME's process lives.
wait_for() {
	local name=$1 secs=$2; shift 2
	local end=$(( $(date +%s) + secs ))
	until "$@" >/dev/null 2>&1; do
		alive "$name"
		[ "$(date +%s)" -lt "$end" ] || { echo "up: $name not ready after ${secs}s" >&2; tail -20 "$RUN/logs/$name.log" >&2; return 1; }
		sleep 0.2
	done
}

# etcd's data lives on tmpfs: the fixture is throwaway and fsync on a busy disk
# is what makes etcd slow here.
ETCD_DIR=$(mktemp -d /dev/shm/gpuctl-k8s-etcd.XXXXXX)
echo "$ETCD_DIR" > "$RUN/etcd.dir"
start etcd "$BIN/etcd" --name gpuctl-test --data-dir "$ETCD_DIR" \
	--listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster "gpuctl-test=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls '' \
	--unsafe-no-fsync --log-level warn
etcd_ok() { curl -s --max-time 1 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'; }
wait_for etcd 30 etcd_ok
echo "up: etcd healthy after $(since)s" >&2

start apiserver "$BIN/kube-apiserver" \
	--etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
	--tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
	--client-ca-file="$P/ca.crt" --token-auth-file="$P/tokens.csv" \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
	--service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
	--authorization-mode=Node,RBAC \
	--kubelet-client-certificate="$P/kubelet-client.crt" --kubelet-client-key="$P/kubelet-client.key"
api_ok() { [ "$(curl -sk --max-time 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "$SERVER/readyz")" = 200 ]; }
wait_for apiserver 90 api_ok
echo "up: apiserver ready after $(since)s" >&2

start kcm "$BIN/kube-controller-manager" --kubeconfig="$P/kcm.kubeconfig" \
	--leader-elect=false --secure-port=0 --use-service-account-credentials=true \
	--service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
	--cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key"
start scheduler "$BIN/kube-scheduler" --kubeconfig="$P/sched.kubeconfig" --leader-elect=false --secure-port=0

# kwok replaces the pod stages wholesale when the config has any, so the three
# we need are spelled out: run, complete (restartPolicy Never pods finish like
# a one-shot container would), delete. Logs: a fake nvidia-smi output for
# every pod except gpu-test-nogpu, which prints what a GPU-less node prints,
# and pods in namespace nvml-fail, which print a device plugin failing on NVML.
cat > "$RUN/nvidia-smi.log" <<'L'
2026-01-01T00:00:00.000000000Z stdout F +-----------------------------------------------------------------------------------------+
2026-01-01T00:00:00.000000000Z stdout F | NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
2026-01-01T00:00:00.000000000Z stdout F |   0  NVIDIA A100-PCIE-40GB          Off |   00000000:3B:00.0 Off |                    0 |
2026-01-01T00:00:00.000000000Z stdout F +-----------------------------------------------------------------------------------------+
L
cat > "$RUN/nogpu.log" <<'L'
2026-01-01T00:00:00.000000000Z stdout F No devices were found
L
# What the device plugin logs on a node whose containers cannot see the driver.
cat > "$RUN/nvml-fail.log" <<'L'
2026-01-01T00:00:00.000000000Z stderr F I0101 00:00:00.000000       1 main.go:235] "Starting NVIDIA Device Plugin" version="v0.18.2"
2026-01-01T00:00:00.000000000Z stderr F E0101 00:00:00.000000       1 factory.go:112] Incompatible strategy detected auto
2026-01-01T00:00:00.000000000Z stderr F E0101 00:00:00.000000       1 factory.go:113] If this is a GPU node, did you configure the NVIDIA Container Toolkit?
2026-01-01T00:00:00.000000000Z stderr F E0101 00:00:00.000000       1 factory.go:114] You can check the prerequisites at: https://github.com/NVIDIA/k8s-device-plugin#prerequisites
2026-01-01T00:00:00.000000000Z stderr F I0101 00:00:00.000000       1 main.go:381] No devices found. Waiting indefinitely.
2026-01-01T00:00:00.000000000Z stderr F E0101 00:00:00.000000       1 nvml.go:45] Failed to initialize NVML: could not load NVML library
L
sed -e "s#@RUN@#$RUN#g" "$HERE/kwok.yaml" > "$RUN/kwok.yaml"
start kwok "$BIN/kwok" --kubeconfig="$P/kwok.kubeconfig" -c "$RUN/kwok.yaml" \
	--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
	--node-ip=127.0.0.1 --node-port="$KWOK_PORT" --server-address="127.0.0.1:$KWOK_PORT" \
	--tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
	--cidr=10.244.0.1/16

# The serviceaccount controller creating "default" shows kcm is working; pods
# are refused by admission until it exists.
sa_ok() { [ "$(curl -sk --max-time 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "$SERVER/api/v1/namespaces/default/serviceaccounts/default")" = 200 ]; }
wait_for kcm 90 sa_ok
kwok_ok() { curl -sk --max-time 1 -o /dev/null "https://127.0.0.1:$KWOK_PORT/healthz"; }
wait_for kwok 30 kwok_ok
alive scheduler
echo "up: control plane ready after $(since)s (apiserver $SERVER, run dir $RUN)" >&2

trap - ERR
rm -f "$RUN/starting"
echo "$P/admin.kubeconfig"
