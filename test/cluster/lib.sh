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
