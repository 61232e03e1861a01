#!/usr/bin/env bash
# Faults for one control-plane process of the dev cluster, by its pid file
# (used by the chaos suite, test/chaos/):
#   component.sh kill    NAME   SIGKILL, wait until it is gone
#   component.sh stop    NAME   SIGSTOP (stalled: sockets open, nothing answers)
#   component.sh cont    NAME   SIGCONT
#   component.sh start   kube-apiserver   start it if it is not running, wait for /readyz
#   component.sh restart kube-apiserver   kill, start, wait for /readyz
#   component.sh ready   [SECONDS]        wait for the apiserver's /readyz (default 120 s)
# Only the apiserver can be (re)started: its command line is shared with
# up.sh (apiserver_cmd in lib.sh). Every other component is only signalled.
source "$(dirname "$0")/lib.sh"
# A worktree's .kubecache-dev may be a symlink to a shared cluster's state: a
# restarted apiserver must name the real paths (it reads its kubelet client
# certificate at every exec and port-forward), never a link that can vanish
# with the worktree.
STATE=$(readlink -f "$STATE")
PKI="$STATE/pki" LOGS="$STATE/logs" PIDS="$STATE/pids" KUBECONFIG_ADMIN="$STATE/admin.kubeconfig"

usage() {
  echo "usage: $0 kill|stop|cont|start|restart NAME | ready [SECONDS]" >&2
  exit 2
}

pid_of() {
  [ -f "$PIDS/$1.pid" ] || { echo "no pid file for $1 in $PIDS" >&2; exit 1; }
  cat "$PIDS/$1.pid"
}

wait_gone() {
  local pid=$1
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  echo "pid $pid still alive 5 s after SIGKILL" >&2
  return 1
}

wait_ready() {
  local limit=${1:-120} t0
  t0=$(now_ms)
  until kubectl_admin get --raw /readyz >/dev/null 2>&1; do
    if [ $(($(now_ms) - t0)) -gt $((limit * 1000)) ]; then
      echo "kube-apiserver not ready after ${limit}s; last log lines:" >&2
      tail -n 20 "$LOGS/kube-apiserver.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

start_apiserver() {
  if pid_alive kube-apiserver; then
    # A stopped process is alive but answers nothing: wake it instead.
    kill -CONT "$(pid_of kube-apiserver)" 2>/dev/null || true
  else
    apiserver_cmd
    start_component kube-apiserver "${APISERVER_CMD[@]}"
  fi
  wait_ready 120
}

[ $# -ge 1 ] || usage
action=$1 name=${2:-}
case $action in
  kill)
    [ -n "$name" ] || usage
    pid=$(pid_of "$name")
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid"
    ;;
  stop)
    [ -n "$name" ] || usage
    kill -STOP "$(pid_of "$name")"
    ;;
  cont)
    [ -n "$name" ] || usage
    kill -CONT "$(pid_of "$name")"
    ;;
  start | restart)
    [ "$name" = kube-apiserver ] || { echo "only kube-apiserver can be (re)started" >&2; exit 2; }
    if [ "$action" = restart ] && pid_alive kube-apiserver; then
      pid=$(pid_of kube-apiserver)
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid"
    fi
    start_apiserver
    ;;
  ready)
    wait_ready "${name:-120}"
    ;;
  *) usage ;;
esac
