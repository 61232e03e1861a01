#!/usr/bin/env bash
# Prints each cluster process and the node's state.
source "$(dirname "$0")/lib.sh"
rc=0
for c in etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  if pid_alive "$c"; then printf '%-24s running (pid %s)\n' "$c" "$(cat "$PIDS/$c.pid")"; else printf '%-24s stopped\n' "$c"; rc=1; fi
done
if [ $rc = 0 ]; then
  kubectl_admin get nodes -o wide || rc=1
  echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
fi
exit $rc
