#!/usr/bin/env bash
# Builds the in-cluster CI runner image offline and imports it into the
# instance's containerd (KUBECACHE_CLUSTER): Node 24 (the binary in .tools),
# busybox, and two consumer projects with the packed kubecache tarball
# installed (test/consumers/: vitest-4-esm, jest-29-cjs), plus a "hold" suite
# that keeps its caches until told to finish. Prints the image reference.
# Run with Node 24 first on PATH (test/tools/with-node.sh).
#   usage: runner-image.sh
source "$(dirname "$0")/lib.sh"
CONSUMERS=(vitest-4-esm jest-29-cjs)
node "$REPO/test/consumers/run.mjs" --prepare "${CONSUMERS[@]}" >&2
node_bin=$(command -v node)
hold="$REPO/test/integration/fixtures/in-cluster"
# The image is named by what goes into it, so an unchanged one is not rebuilt.
key=$( {
  "$node_bin" --version
  cat "$CLUSTER_SRC/runner-image.sh" "$CLUSTER_SRC/images/rootfs.sh" "$hold"/*
  for c in "${CONSUMERS[@]}"; do
    d="$REPO/test/consumers/$c"
    cat "$d/node_modules/.kubecache-install.json"
    find "$d" -path "$d/node_modules" -prune -o -type f -print0 | sort -z | xargs -0 cat
  done
} | sha256sum | cut -c1-12)
ref="docker.io/kubecache/ci-runner:$key"
if [ -n "$(ctr_k8s images ls -q "name==$ref" 2>/dev/null)" ]; then
  echo "$ref"
  exit 0
fi
work=$(mktemp -d)
out="$work/out"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
source "$CLUSTER_SRC/images/rootfs.sh"
r="$work/rootfs"
add_busybox "$r"
printf 'runner:x:1000:1000:runner:/tmp:/bin/sh\n' >>"$r/etc/passwd"
printf 'runner:x:1000:\n' >>"$r/etc/group"
install -D -m 0755 "$(readlink -f "$node_bin")" "$r/usr/local/bin/node"
add_libs "$r" "$node_bin"
mkdir -p "$r/work"
for c in "${CONSUMERS[@]}"; do
  cp -a "$REPO/test/consumers/$c" "$r/work/$c"
done
# Native addons (rolldown's, under Vitest) load libraries node itself does not (librt).
while IFS= read -r addon; do add_libs "$r" "$addon"; done < <(find "$r/work" -name '*.node' -type f)
mkdir -p "$r/work/vitest-4-esm/hold"
cp "$hold/hold.test.js" "$r/work/vitest-4-esm/hold/"
cp "$hold/hold.config.js" "$r/work/vitest-4-esm/"
# The runner writes caches and reports in its projects (Vitest, Jest): its
# user owns them, and group 0 may write too (any UID in group 0 works).
chown -R 1000:0 "$r/work"
chmod -R g+w "$r/work"
pack "$r" "$ref" \
  '{"Env":["PATH=/usr/local/bin:/usr/bin:/bin","HOME=/tmp"],"WorkingDir":"/work","User":"1000:1000","Cmd":["sh"]}' runner >&2
ctr_k8s images import "$out/runner.tar" >&2
echo "$ref"
