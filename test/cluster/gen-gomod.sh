#!/usr/bin/env bash
# Writes go.mod for the Kubernetes version in $1 (e.g. 1.34.4): k8s.io/kubernetes
# as a library needs every staging module replaced by its v0.<minor> tag.
set -euo pipefail
v=${1:?usage: gen-gomod.sh 1.34.4}
staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
minor=${v#*.}; minor=${minor%%.*}
[ "$minor" -ge 36 ] && staging="$staging cri-streaming streaming"
[ "$minor" -ge 37 ] && staging="$staging node-api"
{
  echo "module kubecache.dev/cluster"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes v$v"
  echo
  echo "replace ("
  for m in $staging; do echo "	k8s.io/$m => k8s.io/$m v0.${v#*.}"; done
  echo ")"
} > go.mod
