#!/usr/bin/env bash
# Stops every process of one dev cluster instance (KUBECACHE_CLUSTER; by pid
# file, then by what is left of an instance whose pid files were lost),
# unmounts its mounts and removes its network namespaces, bridge and iptables
# rules. Another instance running beside it is left alone: everything below
# matches this instance's own paths, cgroup, addresses and rule tag.
# `--purge` also deletes certs.
#   usage: down.sh [--quiet] [--purge]
source "$(dirname "$0")/lib.sh"
quiet=0 purge=0
for a in "$@"; do
  case $a in --quiet) quiet=1 ;; --purge) purge=1 ;; esac
done
say() { [ $quiet = 1 ] || log "$*"; }

# TERM everything at once, give it 3 s, then KILL: a throwaway dev cluster
# needs no graceful drain, and serial waits made teardown slow.
stop_pids() {
  local pids=() p
  for p in "$@"; do kill -0 "$p" 2>/dev/null && pids+=("$p"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 30); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

pids=()
for c in kubelet kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do
  if [ -f "$PIDS/$c.pid" ]; then
    pids+=("$(cat "$PIDS/$c.pid")")
    rm -f "$PIDS/$c.pid"
  fi
done
# Processes of an instance whose pid files are gone (another clone, or a wiped
# checkout), and containerd's shims: match on paths only this instance uses
# (every component's command line names its state, var or run dir; the
# binaries themselves are shared by instances of the same version).
own="$RUNDIR/containerd|$STATE/|$VARDIR/"
for pat in "$own"; do
  for pid in $(pgrep -f -- "$pat" 2>/dev/null || true); do
    [ "$pid" = $$ ] || pids+=("$pid")
  done
done
stop_pids "${pids[@]}"
# Container processes whose shim is gone are re-parented to init: kill them by
# the cgroups the kubelet put them in.
for ctl in /sys/fs/cgroup/*/"$CGROUP_ROOT" /sys/fs/cgroup/"$CGROUP_ROOT"; do
  [ -d "$ctl" ] || continue
  find "$ctl" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
done
sleep 0.2
for ctl in /sys/fs/cgroup/*/"$CGROUP_ROOT" /sys/fs/cgroup/"$CGROUP_ROOT"; do
  [ -d "$ctl" ] && find "$ctl" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

# Mounts: overlay snapshots, pod volumes, netns bind mounts, the kubelet root.
for root in "$RUNDIR" "$VARDIR"; do
  awk -v r="$root" '$5 == r || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
done
# Network namespaces that containerd 1.6 made for this instance's pods in
# /run/netns (containerd 2 keeps them under RUNDIR, unmounted above): those
# whose address is in this instance's pod network.
net_prefix="${POD_CIDR%.0.0/16}."
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do
  if ip -n "$ns" -4 -o addr show 2>/dev/null | grep -qF " inet $net_prefix"; then
    ip netns delete "$ns" 2>/dev/null || true
  fi
done
ip link delete "${BRIDGE}-keep" 2>/dev/null || true
ip link delete "$BRIDGE" 2>/dev/null || true
for table in filter nat; do
  { iptables -t "$table" -S 2>/dev/null || true; } | { grep -E -- "--comment $IPT_TAG( |\$)" || true; } |
    sed 's/^-A /-D /' | while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null || true; done
done
rm -rf "$RUNDIR" "$VARDIR"
rm -f "$STATE/containerd.toml" "$STATE/kubelet.yaml"
[ $purge = 1 ] && rm -rf "$STATE"
left=$(pgrep -f -- "$own" | grep -vx "$$" || true)
if [ -n "$left" ]; then
  echo "cluster processes still running: $left" >&2
  exit 1
fi
say "down ($CLUSTER): no process of this instance left"
