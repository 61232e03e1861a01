#!/usr/bin/env bash
# Builds the dev cluster's images offline from Debian packages and writes each
# as a docker-archive tar that `ctr images import` accepts. These are local
# stand-ins for the upstream images under the references kubecache defaults
# to; see test/cluster/README.md.
#   usage: build.sh OUT_DIR
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Copies binaries and every shared library they load into a rootfs.
add_bins() {
  local root=$1; shift
  local f lib
  for f in "$@"; do
    install -D -m 0755 "$(readlink -f "$f")" "$root$f"
    for lib in $(ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do
      [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
    done
  done
}

add_busybox() {
  local root=$1 applet
  install -D -m 0755 /usr/bin/busybox "$root/bin/busybox"
  for applet in sh ash cat wget ls mkdir rm mv cp sleep echo test printf sha256sum wc stat \
    head tail grep sed id env true false touch chmod ps kill nc od dd cmp; do
    ln -sf busybox "$root/bin/$applet"
  done
  mkdir -p "$root/usr/bin" "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\ncache:x:999:999:cache:/data:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\ncache:x:999:\n' >"$root/etc/group"
}

# Writes a docker-archive with one layer. $3 is the image config JSON fragment
# (Cmd, WorkingDir, ExposedPorts, ...).
pack() {
  local root=$1 ref=$2 cfg=$3 name=$4
  local d="$work/$name-archive"
  mkdir -p "$d"
  tar --numeric-owner --sort=name --mtime='2024-01-01 00:00:00' -C "$root" -cf "$d/layer.tar" .
  local diff
  diff=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
  printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$cfg" "$diff" >"$d/config.json"
  printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$ref" >"$d/manifest.json"
  tar -C "$d" -cf "$out/$name.tar" manifest.json config.json layer.tar
  echo "built $ref -> $out/$name.tar ($(du -h "$out/$name.tar" | cut -f1))"
}

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
install -d -o 999 -g 999 -m 0755 "$r/data"
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
