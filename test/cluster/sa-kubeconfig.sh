#!/usr/bin/env bash
# Mints a kubeconfig for a namespaced ServiceAccount (created if missing), so
# tests and people can act with least privilege.
#   usage: sa-kubeconfig.sh NAMESPACE SERVICEACCOUNT OUT_FILE [DURATION]
source "$(dirname "$0")/lib.sh"
ns=${1:?usage: sa-kubeconfig.sh NAMESPACE SERVICEACCOUNT OUT_FILE [DURATION]}
sa=${2:?service account name}
out=${3:?output file}
duration=${4:-1h}
kubectl_admin get namespace "$ns" >/dev/null 2>&1 || kubectl_admin create namespace "$ns" >/dev/null
kubectl_admin -n "$ns" get serviceaccount "$sa" >/dev/null 2>&1 || kubectl_admin -n "$ns" create serviceaccount "$sa" >/dev/null
token=$(kubectl_admin -n "$ns" create token "$sa" --duration "$duration")
write_kubeconfig "$out" "$ns-$sa" "$ns" "{ token: $token }"
echo "$out"
