#!/usr/bin/env bash
# Builds the cluster binaries (kc multi-call: apiserver, controller-manager,
# scheduler, kubelet, kubectl; and etcd) for $KUBECACHE_K8S_VERSION into the
# cache dir, unless they are there already; and containerd 2 (containerd, its
# runc v2 shim, ctr) when the configuration uses it.
source "$(dirname "$0")/lib.sh"
if [ -n "$CONTAINERD_BIN" ] && ! [ -x "$CONTAINERD_BIN/containerd-shim-runc-v2" ]; then
  command -v go >/dev/null || { echo "go is required to build containerd for the dev cluster" >&2; exit 1; }
  log "building containerd v$CONTAINERD_VERSION into $CONTAINERD_BIN"
  # Static, without the snapshotters that need cgo or kernel headers; the
  # shim is written last, so its presence marks a complete build.
  tmp="$CONTAINERD_BIN.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for c in containerd ctr containerd-shim-runc-v2; do
    (cd / && CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "-s -w" \
      -tags "no_btrfs no_devmapper no_zfs" "github.com/containerd/containerd/v2/cmd/$c@v$CONTAINERD_VERSION")
  done
  mkdir -p "$CONTAINERD_BIN"
  mv "$tmp/containerd" "$tmp/ctr" "$CONTAINERD_BIN/"
  mv "$tmp/containerd-shim-runc-v2" "$CONTAINERD_BIN/"
  rmdir "$tmp"
fi
if [ -x "$KC" ] && [ -x "$BIN/etcd" ]; then
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build the dev cluster" >&2; exit 1; }
mkdir -p "$BIN"
work="$CLUSTER_SRC"
if [ "$K8S_VERSION" != "$(sed -n 's/^require k8s.io\/kubernetes v//p;s/^\tk8s.io\/kubernetes v//p' "$CLUSTER_SRC/go.mod" | head -1)" ]; then
  # Another version: build from a scratch copy so the committed go.mod stays as it is.
  work=$(mktemp -d)
  cp -r "$CLUSTER_SRC/cmd" "$CLUSTER_SRC/gen-gomod.sh" "$work/"
  (cd "$work" && ./gen-gomod.sh "$K8S_VERSION" && go mod tidy)
fi
minor=${K8S_VERSION#*.}; minor=${minor%%.*}
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
log "building Kubernetes v$K8S_VERSION components into $BIN (first build takes a while)"
(cd "$work" && go build -trimpath -ldflags "$ld" -o "$BIN/" ./cmd/kc ./cmd/etcd)
ln -sf kc "$BIN/kubectl"
