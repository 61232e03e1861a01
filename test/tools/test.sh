#!/bin/sh
# The project's test command (npm test): type check, lint, then every unit and
# integration test against the dev cluster, which is brought up first if it
# is not running, the consumer projects, and last the chaos suite.
# Integration tests never skip; without a cluster they fail.
# KUBECACHE_CLUSTER picks the cluster configuration (newest, the default, or
# oldest; see test/cluster/README.md).
#   usage: test.sh [--integration-only] [VITEST_ARGS...]
# --integration-only runs just the integration project (CI's second cluster
# configuration: the static checks, consumer projects and chaos suite do not
# depend on it).
set -eu
only=""
if [ "${1:-}" = --integration-only ]; then only=integration; shift; fi
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"
bash test/cluster/up.sh
state=$(bash test/cluster/state-dir.sh)
export KUBECONFIG="$state/admin.kubeconfig"
export KUBECACHE_TEST_KUBECONFIG="$KUBECONFIG"
if [ "$only" = integration ]; then
  echo "== build dist (child-process fixtures use it)"
  node test/consumers/build-dist.mjs
  echo "== vitest, integration project"
  status=0
  vitest run --project integration --reporter=default --reporter=json --outputFile.json="$state/vitest-report.json" "$@" || status=$?
  node test/tools/summary.mjs "$state/vitest-report.json" || status=1
  exit $status
fi
echo "== tsc --noEmit"
tsc --noEmit -p tsconfig.json
echo "== build dist, ESM and CommonJS (child-process fixtures and consumer projects use it)"
node test/consumers/build-dist.mjs
echo "== biome check"
biome check .
echo "== vitest"
status=0
vitest run --project '!chaos' --reporter=default --reporter=json --outputFile.json="$state/vitest-report.json" "$@" || status=$?
echo "== consumer projects (the packed package in Vitest 3.2/4/5 and Jest 29/30)"
node test/consumers/run.mjs > "$state/consumers.log" 2>&1 || status=1
cat "$state/consumers.log"
echo "== doc tests (every code block of README.md and docs/*.md, in fresh projects with the packed package)"
node test/docs/run.mjs > "$state/docs.log" 2>&1 || status=1
cat "$state/docs.log"
# Last, alone and one file at a time: the chaos suite kills and stops the API
# server. It prints the reliability table and writes reliability.md in the
# cluster's state dir.
echo "== chaos suite (test/chaos: API server outages, dying pods, killed runners)"
chaos_t0=$(date +%s)
vitest run --project chaos --reporter=default --reporter=json --outputFile.json="$state/vitest-chaos.json" || status=1
echo "chaos suite: $(($(date +%s) - chaos_t0)) s"
node test/tools/summary.mjs "$state/vitest-report.json" "$state/consumers.log" "$state/docs.log" || status=1
node test/tools/summary.mjs "$state/vitest-chaos.json" || status=1
exit $status
