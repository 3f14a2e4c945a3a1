#!/bin/bash
# Generates the fixture's PKI and kubeconfigs into $1 (openssl only).
# Clients authenticate with static bearer tokens; the "limited" user has no RBAC
# bindings so tests can provoke a real "forbidden" answer.
set -euo pipefail
P=$1; SERVER=$2
mkdir -p "$P"; cd "$P"
# Reuse a PKI made for the same API server address; the ports may change.
if [ -f admin.kubeconfig ] && grep -q "server: $SERVER\$" admin.kubeconfig; then exit 0; fi
rm -f ./*.kubeconfig ./*.crt ./*.key ./*.csr ./*.ext ./*.srl ./*.pub tokens.csv
openssl genrsa -out ca.key 2048 2>/dev/null
openssl req -x509 -new -nodes -key ca.key -subj "/CN=gpuctl-test-ca" -days 3650 -out ca.crt 2>/dev/null
openssl genrsa -out apiserver.key 2048 2>/dev/null
openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > apiserver.ext
openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
# The apiserver presents this client cert to the kubelet API (kwok) for logs and exec.
openssl genrsa -out kubelet-client.key 2048 2>/dev/null
openssl req -new -key kubelet-client.key -subj "/O=system:masters/CN=kubelet-client" -out kubelet-client.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > client.ext
openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out kubelet-client.crt 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
tok() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ADMIN=$(tok); KCM=$(tok); SCHED=$(tok); KWOK=$(tok); LIMITED=$(tok)
cat > tokens.csv <<T
$ADMIN,admin,admin,"system:masters"
$KCM,system:kube-controller-manager,kcm
$SCHED,system:kube-scheduler,sched
$KWOK,kwok,kwok,"system:masters"
$LIMITED,limited,limited
T
CA=$(base64 -w0 < ca.crt)
kc() {
	cat > "$1.kubeconfig" <<K
apiVersion: v1
kind: Config
clusters:
- name: gpuctl-test
  cluster:
    server: $SERVER
    certificate-authority-data: $CA
users:
- name: $1
  user:
    token: $2
contexts:
- name: $1@gpuctl-test
  context:
    cluster: gpuctl-test
    user: $1
current-context: $1@gpuctl-test
K
	chmod 600 "$1.kubeconfig"
}
kc kcm "$KCM"; kc sched "$SCHED"; kc kwok "$KWOK"; kc limited "$LIMITED"; kc admin "$ADMIN"
