#!/usr/bin/env bash
# Brings the dev cluster up (idempotent): installs missing Debian packages,
# builds the components if they are not cached, and starts etcd, containerd,
# kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet,
# then waits for a Ready node. A cluster left behind by a killed session is
# torn down first.
source "$(dirname "$0")/lib.sh"
T_ALL=$(now_ms)

if [ "$(id -u)" != 0 ]; then
  echo "cluster:up must run as root (it starts containerd and the kubelet)" >&2
  exit 1
fi

healthy() {
  for c in etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    pid_alive "$c" || return 1
  done
  [ -f "$KUBECONFIG_ADMIN" ] && [ -x "$KUBECTL" ] &&
    kubectl_admin get --raw /readyz >/dev/null 2>&1 &&
    kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

# The running instance must also be the configuration asked for: after a
# change of versions (a checkout that moved newest to another release) it is
# restarted on the new ones.
runs_configuration() {
  local info want_rt
  info=$(kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.nodeInfo.containerRuntimeVersion}' 2>/dev/null) || return 1
  if [ "$CONTAINERD_VERSION" = debian ]; then want_rt="containerd://1."; else want_rt="containerd://$CONTAINERD_VERSION"; fi
  case "$info" in
    "v$K8S_VERSION $want_rt"*) return 0 ;;
  esac
  log "the running instance is $info; $CLUSTER wants v$K8S_VERSION on containerd $CONTAINERD_VERSION: restarting it"
  return 1
}

if healthy && runs_configuration; then
  log "already up ($CLUSTER): node $NODE_NAME is Ready"
  echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
  exit 0
fi

phase_start
need=()
for pair in containerd:containerd runc:runc openssl:openssl ip:iproute2 iptables:iptables curl:curl pgrep:procps \
  busybox:busybox-static redis-server:redis-server memcached:memcached gcc:gcc \
  saslpasswd2:sasl2-bin; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
[ -f /usr/lib/x86_64-linux-gnu/sasl2/libplain.so ] || need+=(libsasl2-modules)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian starts the packaged services on install; the dev cluster runs its
# own instances and must not collide with them.
for svc in containerd redis-server memcached; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
phase_end "packages"

phase_start
bash "$CLUSTER_SRC/build.sh"
phase_end "build (cached binaries are reused)"

# Anything left from an earlier cluster (a killed session, a stale pid file)
# goes first, so the start below is always from a clean slate.
phase_start
bash "$CLUSTER_SRC/down.sh" --quiet
phase_end "clean stale state"

mkdir -p "$STATE" "$LOGS" "$PIDS" "$VARDIR" "$RUNDIR/containerd"

phase_start
bash "$CLUSTER_SRC/pki.sh"
phase_end "certificates and kubeconfigs"

phase_start
# Pod network: a bridge with the cluster's own address. The kubelet's node IP
# and the apiserver's advertise address live on it (loopback is refused for both).
modprobe overlay 2>/dev/null || true
modprobe br_netfilter 2>/dev/null || true
ip link add "$BRIDGE" type bridge 2>/dev/null || true
ip addr replace "$BRIDGE_IP/16" dev "$BRIDGE"
ip link set "$BRIDGE" up
# A bridge without ports has no carrier, and then Node's networkInterfaces()
# (libuv lists only interfaces that are up and running) does not show it:
# kubecache could not find the address pods reach it on while no pod runs.
# A veth port whose peer stays unattached keeps the bridge running (this
# kernel has no dummy interfaces).
ip link add "${BRIDGE}-keep" type veth peer name "${BRIDGE}-peer" 2>/dev/null || true
ip link set "${BRIDGE}-keep" master "$BRIDGE" up
ip link set "${BRIDGE}-peer" up
# Pin the bridge's MAC address. Unpinned, a Linux bridge takes the lowest MAC
# of its ports and changes it as pod veths come and go; pods then hold a
# stale ARP entry for their gateway and lose the API server (the Service IP
# below) for up to 30 s. The CNI bridge plugin pins it too, but only when it
# adds the bridge's address itself, and here the address is already set.
ip link set "$BRIDGE" address "$(cat "/sys/class/net/$BRIDGE/address")"
# Pods may talk to each other and to the bridge address only.
iptables -I FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment "$IPT_TAG" -j DROP
iptables -I FORWARD -o "$BRIDGE" ! -i "$BRIDGE" -m comment --comment "$IPT_TAG" -j DROP
# There is no kube-proxy: the one Service that matters, kubernetes.default
# (what in-cluster clients dial), is mapped straight to the apiserver.
iptables -t nat -I PREROUTING -d "$SERVICE_IP" -p tcp --dport 443 -m comment --comment "$IPT_TAG" \
  -j DNAT --to-destination "$BRIDGE_IP:$APISERVER_PORT"
iptables -t nat -I OUTPUT -d "$SERVICE_IP" -p tcp --dport 443 -m comment --comment "$IPT_TAG" \
  -j DNAT --to-destination "$BRIDGE_IP:$APISERVER_PORT"
sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
mkdir -p "$VARDIR/cni/net.d" "$VARDIR/cni/ipam"
cat >"$VARDIR/cni/net.d/10-kubecache.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$VARDIR/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "rangeStart": "$POD_RANGE_START", "gateway": "$BRIDGE_IP" }]],
        "routes": [{ "dst": "$SERVICE_CIDR" }]
      }
    }
  ]
}
JSON
# The kubelet's pod volumes (secrets, projected tokens) are mounts that must
# propagate into containers.
mkdir -p "$VARDIR/kubelet"
mount --bind "$VARDIR/kubelet" "$VARDIR/kubelet"
mount --make-rshared "$VARDIR/kubelet"
phase_end "network"

start() {
  : >"$LOGS/$1.log"
  start_component "$@"
}

wait_for() {
  local what=$1 limit=$2; shift 2
  local t0
  t0=$(now_ms)
  until "$@" >/dev/null 2>&1; do
    if [ $(($(now_ms) - t0)) -gt $((limit * 1000)) ]; then
      echo "timed out after ${limit}s waiting for $what; last log lines:" >&2
      for f in "$LOGS"/*.log; do echo "== $f" >&2; tail -n 15 "$f" >&2; done
      exit 1
    fi
    sleep 0.2
  done
}

phase_start
start etcd "$BIN/etcd" --data-dir "$VARDIR/etcd" \
  --listen-client-url "http://127.0.0.1:$ETCD_PORT" --listen-peer-url "http://127.0.0.1:$((ETCD_PORT + 1))"

if [ -n "$CONTAINERD_BIN" ]; then
  # containerd 2 (config version 3: the CRI plugin is split into images and
  # runtime sections). Its netns bind mounts go under its own state dir, so
  # down.sh removes exactly this instance's.
  cat >"$STATE/containerd.toml" <<TOML
version = 3
root = "$VARDIR/containerd"
state = "$RUNDIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "registry.k8s.io/pause:3.10"
[plugins."io.containerd.cri.v1.runtime"]
  # See the version 2 config below.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$VARDIR/cni/net.d"
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
TOML
else
cat >"$STATE/containerd.toml" <<TOML
version = 2
root = "$VARDIR/containerd"
state = "$RUNDIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # This VM's root may not lower oom_score_adj (runc fails with "failed to
  # update /proc/self/oom_score_adj: Permission denied" for the kubelet's -998
  # on the sandbox); clamp instead of failing, as rootless setups do.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$VARDIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
TOML
fi
# As containerd's unit file does: enough open files for many shims.
ulimit -n 1048576 2>/dev/null || true
# There is no registry to pull from, and containerd must never reach past this
# machine: every pull goes through a proxy address on loopback where nothing
# listens, so a missing image fails at once (ErrImagePull) instead of hanging.
# containerd finds its shim on PATH: a containerd 2 must find its own shim
# first, not Debian's 1.6 one ("io.containerd.runc.v2: ... not found").
start containerd env PATH="${CONTAINERD_BIN:+$CONTAINERD_BIN:}$PATH" HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
  http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 no_proxy= \
  "${CONTAINERD_BIN:+$CONTAINERD_BIN/}containerd" --config "$STATE/containerd.toml"
wait_for "etcd" 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
wait_for "containerd" 60 "$CTR" -a "$CONTAINERD_SOCK" version
phase_end "etcd + containerd"

phase_start
bash "$CLUSTER_SRC/images.sh"
phase_end "images"

phase_start
apiserver_cmd
start kube-apiserver "${APISERVER_CMD[@]}"
wait_for "kube-apiserver /readyz" 120 kubectl_admin get --raw /readyz
phase_end "kube-apiserver"

phase_start
start kube-controller-manager "$KC" kube-controller-manager \
  --kubeconfig="$PKI/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --use-service-account-credentials=true --leader-elect=false --bind-address=127.0.0.1 \
  --secure-port="$CONTROLLER_MANAGER_PORT" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --profiling=false --v=1
start kube-scheduler "$KC" kube-scheduler \
  --kubeconfig="$PKI/scheduler.kubeconfig" \
  --authentication-kubeconfig="$PKI/scheduler.kubeconfig" \
  --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --profiling=false --v=1

cat >"$STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $BRIDGE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: AlwaysAllow }
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
# This VM has cgroup v1 (hybrid, no systemd).
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: true
cgroupRoot: /$CGROUP_ROOT
# Its own pod log dir: a kubelet deletes the directories there of pods it does
# not know, which would be another instance's.
podLogsDir: $POD_LOGS_DIR
enforceNodeAllocatable: []
# Images are imported locally and can never be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: "0%", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%" }
localStorageCapacityIsolation: false
serializeImagePulls: false
registerNode: true
resolvConf: ""
maxPods: 250
syncFrequency: 10s
nodeStatusUpdateFrequency: 4s
YAML
# The kubelet puts every pod under this cgroup root, which must already exist in
# each cgroup v1 hierarchy; down.sh kills what is left in it.
for ctl in /sys/fs/cgroup/*/; do
  case $ctl in */unified/) continue ;; esac
  mkdir -p "${ctl}$CGROUP_ROOT"
done
start kubelet "$KC" kubelet --config="$STATE/kubelet.yaml" \
  --kubeconfig="$PKI/kubelet.kubeconfig" --node-ip="$BRIDGE_IP" \
  --hostname-override="$NODE_NAME" --root-dir="$VARDIR/kubelet" --v=1
wait_for "node $NODE_NAME Ready" 120 sh -c "'$KUBECTL' --kubeconfig '$KUBECONFIG_ADMIN' get node $NODE_NAME -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -q True"
# Pods are refused until the controller-manager has made the default ServiceAccount.
wait_for "default ServiceAccount" 60 kubectl_admin -n default get serviceaccount default
phase_end "controller-manager, scheduler, kubelet, node Ready"

log "up in $(($(now_ms) - T_ALL)) ms: $CLUSTER, Kubernetes v$K8S_VERSION on containerd $CONTAINERD_VERSION, node $NODE_NAME Ready"
echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
