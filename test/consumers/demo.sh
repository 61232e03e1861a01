#!/bin/sh
# npm run demo: runs the vitest-5-ts consumer suite against a real cluster,
# with kubecache's progress lines and every test visible. With no cluster
# configured (no KUBECONFIG, no ~/.kube/config) it starts the dev cluster
# first and uses it.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"
if [ -z "${KUBECONFIG:-}" ] && [ ! -f "${HOME:-/nonexistent}/.kube/config" ]; then
  echo "[demo] no cluster configured: starting the dev cluster (bash test/cluster/up.sh)" >&2
  bash test/cluster/up.sh >&2
  KUBECONFIG="$root/.kubecache-dev/admin.kubeconfig"
  export KUBECONFIG
fi
exec node test/consumers/run.mjs --demo vitest-5-ts
