#!/bin/sh
# The project's test command (npm test): type check, lint, then every unit and
# integration test against the dev cluster, which is brought up first if it
# is not running, the consumer projects, and last the chaos suite.
# Integration tests never skip; without a cluster they fail.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"
bash test/cluster/up.sh
export KUBECONFIG="$root/.kubecache-dev/admin.kubeconfig"
echo "== tsc --noEmit"
tsc --noEmit -p tsconfig.json
echo "== build dist, ESM and CommonJS (child-process fixtures and consumer projects use it)"
node test/consumers/build-dist.mjs
echo "== biome check"
biome check .
echo "== vitest"
mkdir -p .kubecache-dev
status=0
vitest run --project '!chaos' --reporter=default --reporter=json --outputFile.json=.kubecache-dev/vitest-report.json "$@" || status=$?
echo "== consumer projects (the packed package in Vitest 3.2/4/5 and Jest 29/30)"
node test/consumers/run.mjs > .kubecache-dev/consumers.log 2>&1 || status=1
cat .kubecache-dev/consumers.log
echo "== doc tests (every code block of README.md and docs/*.md, in fresh projects with the packed package)"
node test/docs/run.mjs > .kubecache-dev/docs.log 2>&1 || status=1
cat .kubecache-dev/docs.log
# Last, alone and one file at a time: the chaos suite kills and stops the API
# server. It prints the reliability table and writes .kubecache-dev/reliability.md.
echo "== chaos suite (test/chaos: API server outages, dying pods, killed runners)"
chaos_t0=$(date +%s)
vitest run --project chaos --reporter=default --reporter=json --outputFile.json=.kubecache-dev/vitest-chaos.json || status=1
echo "chaos suite: $(($(date +%s) - chaos_t0)) s"
node test/tools/summary.mjs .kubecache-dev/vitest-report.json .kubecache-dev/consumers.log .kubecache-dev/docs.log || status=1
node test/tools/summary.mjs .kubecache-dev/vitest-chaos.json || status=1
exit $status
