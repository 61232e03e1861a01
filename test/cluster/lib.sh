# Shared settings for the dev cluster scripts (sourced, not run).
# Every address here is loopback or the cluster's own bridge: pods reach only
# each other and the bridge address, never anything beyond this machine.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER_SRC="$REPO/test/cluster"
K8S_VERSION=${KUBECACHE_K8S_VERSION:-1.34.4}
STATE=${KUBECACHE_STATE_DIR:-$REPO/.kubecache-dev}
CACHE=${KUBECACHE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubecache}
VARDIR=/var/lib/kubecache-dev
RUNDIR=/run/kubecache-dev
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
KUBECONFIG_ADMIN="$STATE/admin.kubeconfig"
NODE_NAME=kubecache-dev
BRIDGE=kcbr0
BRIDGE_IP=10.244.0.1
POD_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
APISERVER_PORT=6443
ETCD_PORT=23790
CONTAINERD_SOCK="$RUNDIR/containerd/containerd.sock"
IPT_TAG=kubecache-dev

log() { printf '[cluster] %s\n' "$*"; }
now_ms() { date +%s%3N; }
phase_start() { PHASE_T0=$(now_ms); }
phase_end() { log "$1: $(($(now_ms) - PHASE_T0)) ms"; }

# Binaries are cached per Kubernetes version and per source hash, outside the
# repo, so a fresh clone on the same machine reuses them.
src_hash() {
  cat "$CLUSTER_SRC/gen-gomod.sh" "$CLUSTER_SRC"/cmd/*/main.go | sha256sum | cut -c1-12
}
BIN="$CACHE/cluster/v$K8S_VERSION-$(src_hash)"
KC="$BIN/kc"
KUBECTL="$BIN/kubectl"

kubectl_admin() { "$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

pid_alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

# write_kubeconfig FILE USER NAMESPACE USER_FIELDS: a kubeconfig for the dev
# cluster; USER_FIELDS is the YAML of the user's credentials (flow style).
write_kubeconfig() {
  local file=$1 user=$2 namespace=$3 fields=$4
  cat >"$file" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: kubecache-dev
  cluster:
    server: https://$BRIDGE_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user: $fields
contexts:
- name: kubecache-dev
  context: { cluster: kubecache-dev, user: $user, namespace: $namespace }
current-context: kubecache-dev
YAML
  chmod 600 "$file"
}

# start_component NAME CMD...: runs a cluster process in its own session
# (setsid: it outlives the shell that started it, and down.sh and
# component.sh signal it by its own pid), logging to $LOGS/NAME.log.
start_component() {
  local name=$1; shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

# apiserver_cmd: sets APISERVER_CMD to the kube-apiserver's command line,
# shared by up.sh and component.sh (which restarts it for the chaos suite).
apiserver_cmd() {
  APISERVER_CMD=("$KC" kube-apiserver
    --etcd-servers="http://127.0.0.1:$ETCD_PORT"
    --bind-address="$BRIDGE_IP" --advertise-address="$BRIDGE_IP" --secure-port="$APISERVER_PORT"
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key"
    --client-ca-file="$PKI/ca.crt"
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key"
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
    --kubelet-certificate-authority="$PKI/ca.crt"
    --kubelet-preferred-address-types=InternalIP
    --cert-dir="$STATE/apiserver" --profiling=false --v=1)
}
