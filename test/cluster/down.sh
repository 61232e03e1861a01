#!/usr/bin/env bash
# Stops every process of the dev cluster (by pid file, then by what is left of
# a cluster whose pid files were lost), unmounts its mounts and removes its
# network namespaces, bridge and iptables rules. `--purge` also deletes certs.
#   usage: down.sh [--quiet] [--purge]
source "$(dirname "$0")/lib.sh"
quiet=0 purge=0
for a in "$@"; do
  case $a in --quiet) quiet=1 ;; --purge) purge=1 ;; esac
done
say() { [ $quiet = 1 ] || log "$*"; }

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# Kubelet first so it does not restart what we stop; containerd last among the
# daemons, after which shims and container processes are killed directly.
for c in kubelet kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do
  if [ -f "$PIDS/$c.pid" ]; then
    stop_pid "$(cat "$PIDS/$c.pid")"
    rm -f "$PIDS/$c.pid"
  fi
done
# Processes of a cluster whose state dir is gone (another clone, or a wiped
# checkout): match on the paths only this cluster uses.
for pat in "$CACHE/cluster/" "$RUNDIR/containerd" "$STATE/containerd.toml" "$VARDIR/"; do
  for pid in $(pgrep -f -- "$pat" 2>/dev/null || true); do
    [ "$pid" = $$ ] || stop_pid "$pid"
  done
done
# Container processes whose shim is gone are re-parented to init: kill them by
# the cgroups the kubelet put them in.
for ctl in /sys/fs/cgroup/*/kubecache /sys/fs/cgroup/kubecache; do
  [ -d "$ctl" ] || continue
  find "$ctl" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
done
sleep 0.2
for ctl in /sys/fs/cgroup/*/kubecache /sys/fs/cgroup/kubecache; do
  [ -d "$ctl" ] && find "$ctl" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

# Mounts: overlay snapshots, pod volumes, netns bind mounts, the kubelet root.
for root in "$RUNDIR" "$VARDIR"; do
  awk -v r="$root" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
done
# Network namespaces made by containerd for this cluster's pods.
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do
  ip netns delete "$ns" 2>/dev/null || true
done
for m in $(awk '$5 ~ /^\/run\/netns\/cni-/ {print $5}' /proc/self/mountinfo); do umount -l "$m" 2>/dev/null || true; rm -f "$m"; done
ip link delete "$BRIDGE" 2>/dev/null || true
for table in filter nat; do
  { iptables -t "$table" -S 2>/dev/null || true; } | { grep -- "--comment $IPT_TAG" || true; } |
    sed 's/^-A /-D /' | while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null || true; done
done
rm -rf "$RUNDIR" "$VARDIR"
rm -f "$STATE/containerd.toml" "$STATE/kubelet.yaml"
[ $purge = 1 ] && rm -rf "$STATE"
left=$(pgrep -f -- "$CACHE/cluster/|$RUNDIR/containerd" || true)
if [ -n "$left" ]; then
  echo "cluster processes still running: $left" >&2
  exit 1
fi
say "down: no cluster process left"
