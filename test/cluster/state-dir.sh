#!/usr/bin/env bash
# Prints the state dir of the instance KUBECACHE_CLUSTER selects (its admin
# kubeconfig is admin.kubeconfig there), for scripts that are not bash.
source "$(dirname "$0")/lib.sh"
echo "$STATE"
