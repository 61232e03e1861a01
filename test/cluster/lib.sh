# Shared settings for the dev cluster scripts (sourced, not run).
# Every address here is loopback or the cluster's own bridge: pods reach only
# each other and the bridge address, never anything beyond this machine.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER_SRC="$REPO/test/cluster"
CACHE=${KUBECACHE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubecache}

# Two configurations, runnable side by side (each is an "instance" with its own
# state, processes, network and ports):
#   newest  the newest served Kubernetes minor on containerd 2 built from Go
#           modules (the default);
#   oldest  the oldest supported minor on Debian's containerd 1.6.
# KUBECACHE_K8S_VERSION and KUBECACHE_CONTAINERD_VERSION (a version, or
# "debian") override a configuration's versions.
CLUSTER=${KUBECACHE_CLUSTER:-newest}
case $CLUSTER in
  newest) default_k8s=1.37.2 default_containerd=2.4.2 default_slot=0 ;;
  oldest) default_k8s=1.34.4 default_containerd=debian default_slot=1 ;;
  *) echo "KUBECACHE_CLUSTER must be newest or oldest, not '$CLUSTER'" >&2; exit 2 ;;
esac
K8S_VERSION=${KUBECACHE_K8S_VERSION:-$default_k8s}
CONTAINERD_VERSION=${KUBECACHE_CONTAINERD_VERSION:-$default_containerd}

# An instance's identity comes from its slot (0, 1, 2, ...): everything that two
# clusters on one machine must not share. Slot 0 keeps the names and addresses
# the dev cluster always had (.kubecache-dev, kcbr0, 10.244.0.0/16, :6443).
# KUBECACHE_CLUSTER_SLOT moves a configuration to another slot, e.g. to try a
# change beside a cluster that others are using.
SLOT=${KUBECACHE_CLUSTER_SLOT:-$default_slot}
case $SLOT in [0-9]) ;; *) echo "KUBECACHE_CLUSTER_SLOT must be 0-9, not '$SLOT'" >&2; exit 2 ;; esac
if [ "$SLOT" = 0 ]; then suffix=""; else suffix="-$SLOT"; fi
STATE=${KUBECACHE_STATE_DIR:-$REPO/.kubecache-dev$suffix}
VARDIR=/var/lib/kubecache-dev$suffix
RUNDIR=/run/kubecache-dev$suffix
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
KUBECONFIG_ADMIN="$STATE/admin.kubeconfig"
NODE_NAME=kubecache-dev$suffix
BRIDGE=kcbr$SLOT
BRIDGE_IP=10.$((244 + SLOT)).0.1
POD_CIDR=10.$((244 + SLOT)).0.0/16
POD_RANGE_START=10.$((244 + SLOT)).0.10
SERVICE_CIDR=10.$((96 + SLOT)).0.0/16
SERVICE_IP=10.$((96 + SLOT)).0.1
APISERVER_PORT=$((6443 + SLOT))
ETCD_PORT=$((23790 + 2 * SLOT))
# Ports on 127.0.0.1 (the kubelet's API listens on the bridge address, which
# differs per slot, so its port can stay 10250).
KUBELET_HEALTHZ_PORT=$((10248 + 100 * SLOT))
CONTROLLER_MANAGER_PORT=$((10257 + 100 * SLOT))
SCHEDULER_PORT=$((10259 + 100 * SLOT))
# The kubelet's cgroup root in every cgroup v1 hierarchy; down.sh kills what is left in it.
CGROUP_ROOT=kubecache$suffix
CNI_NETWORK=kubecache-dev$suffix
# Slot 0 keeps the kubelet's default; others must not share it (see up.sh).
if [ "$SLOT" = 0 ]; then POD_LOGS_DIR=/var/log/pods; else POD_LOGS_DIR=$VARDIR/pod-logs; fi
CONTAINERD_SOCK="$RUNDIR/containerd/containerd.sock"
IPT_TAG=kubecache-dev$suffix

# containerd: Debian's package, or a release built from Go modules into the cache.
if [ "$CONTAINERD_VERSION" = debian ]; then
  CONTAINERD_BIN=""
  CTR=ctr
else
  CONTAINERD_BIN="$CACHE/containerd/v$CONTAINERD_VERSION"
  CTR="$CONTAINERD_BIN/ctr"
fi
ctr_k8s() { "$CTR" -a "$CONTAINERD_SOCK" -n k8s.io "$@"; }

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
- name: $NODE_NAME
  cluster:
    server: https://$BRIDGE_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user: $fields
contexts:
- name: $NODE_NAME
  context: { cluster: $NODE_NAME, user: $user, namespace: $namespace }
current-context: $NODE_NAME
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
