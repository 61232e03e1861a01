#!/usr/bin/env bash
# Generates the cluster CA, serving and client certificates and kubeconfigs
# with openssl. Kept across restarts; deleted by `cluster:down --purge`.
source "$(dirname "$0")/lib.sh"
mkdir -p "$PKI"
cd "$PKI"
[ -f ca.key ] || {
  openssl genrsa -out ca.key 2048 2>/dev/null
  openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=kubecache-dev-ca" -out ca.crt
}
[ -f sa.key ] || {
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
}

# cert NAME SUBJECT KIND [SANS]: KIND is client or server.
cert() {
  local name=$1 subj=$2 kind=$3 sans=${4:-}
  [ -f "$name.crt" ] && return 0
  openssl genrsa -out "$name.key" 2048 2>/dev/null
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ "$kind" = server ]; then echo "extendedKeyUsage=serverAuth"; else echo "extendedKeyUsage=clientAuth"; fi
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

cert apiserver "/CN=kube-apiserver" server \
  "IP:$BRIDGE_IP,IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
cert admin "/O=system:masters/CN=kubecache-admin" client
cert controller-manager "/CN=system:kube-controller-manager" client
cert scheduler "/CN=system:kube-scheduler" client
cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" client
cert kubelet-serving "/CN=$NODE_NAME" server "IP:$BRIDGE_IP,DNS:$NODE_NAME"

kubeconfig() {
  write_kubeconfig "$1" "$2" default \
    "{ client-certificate-data: $(base64 -w0 "$2.crt"), client-key-data: $(base64 -w0 "$2.key") }"
}
kubeconfig "$KUBECONFIG_ADMIN" admin
kubeconfig controller-manager.kubeconfig controller-manager
kubeconfig scheduler.kubeconfig scheduler
kubeconfig kubelet.kubeconfig kubelet
