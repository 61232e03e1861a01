# Helpers for building image rootfs trees and writing them as docker-archive
# tars (sourced by images/build.sh and runner-image.sh). `pack` writes into
# "$out" and works in "$work", which the caller sets.

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
  # OpenShift-style platforms run images under an arbitrary UID with group 0:
  # everything the server writes must be writable by group 0 (see data_dir).
  printf 'root:x:0:0:root:/root:/bin/sh\ncache:x:999:999:cache:/data:/bin/sh\n' >"$root/etc/passwd"
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

