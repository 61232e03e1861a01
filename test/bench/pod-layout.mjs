// Pod layout benchmark (issue 11, what costs the cold suite): the same eight
// cache servers a cold suite run starts (4 workers x redis + memcached),
// started on the dev cluster three ways, rounds interleaved:
//   8x1  eight one-container pods (kubecache's layout: a pod per cache);
//   4x2  four pods of two containers (a pod per worker for both engines);
//   1x8  one pod of eight containers (a pod per run).
// For each start: the wall time from the creates until every container
// runs, and the machine's busy CPU seconds over that span and one second
// after it (/proc/stat), less this process's own. On a machine where the
// cluster shares the runner's cores, that CPU is what a cold suite pays on
// top of local processes. Pods are deleted between starts, and the next
// start waits for them to be gone. Run it on an otherwise idle machine.
//   usage: node test/bench/pod-layout.mjs [rounds=3]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { dropBenchNamespace, kubeconfig, median, useBenchNamespace } from './common.mjs';

const rounds = Number(process.argv[2] ?? 3);
const namespace = 'kc-bench-layout';
const LAYOUTS = [
  { name: '8x1', pods: 8, perPod: 1 },
  { name: '4x2', pods: 4, perPod: 2 },
  { name: '1x8', pods: 1, perPod: 8 },
];
const TICK_MS = 1000 / 100; // USER_HZ

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Busy CPU milliseconds of the whole machine so far (all but idle and iowait). */
function machineBusyMs() {
  const f = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

function ownCpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Server k of the eight: even ones redis, odd ones memcached, each on its own port. */
function container(k) {
  return k % 2 === 0
    ? {
        name: `redis-${k}`,
        image: 'redis:7-alpine',
        imagePullPolicy: 'IfNotPresent',
        command: ['redis-server', '--port', String(6379 + k), '--save', '', '--appendonly', 'no'],
      }
    : {
        name: `memcached-${k}`,
        image: 'memcached:1.6-alpine',
        imagePullPolicy: 'IfNotPresent',
        command: ['memcached', '-p', String(11211 + k), '-U', '0'],
      };
}

/** Pods as kubecache builds them, minus what does not change the start's cost. */
function podsOf(layout, round) {
  const out = [];
  for (let p = 0; p < layout.pods; p++) {
    const containers = [];
    for (let c = 0; c < layout.perPod; c++) containers.push(container(p * layout.perPod + c));
    out.push({
      metadata: {
        name: `layout-${layout.name.replace('x', 'x-')}-${round}-${p}`,
        labels: { bench: 'layout' },
      },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        dnsPolicy: 'Default',
        terminationGracePeriodSeconds: 1,
        securityContext: { runAsNonRoot: true, runAsUser: 999, runAsGroup: 999 },
        containers,
      },
    });
  }
  return out;
}

async function listPods(core) {
  return (await core.listNamespacedPod({ namespace, labelSelector: 'bench=layout' })).items;
}

const allReady = (pods, n) =>
  pods.length === n &&
  pods.every(
    (p) =>
      (p.status?.containerStatuses ?? []).length > 0 &&
      p.status.containerStatuses.every((c) => c.state?.running),
  );

async function start(core, layout, round) {
  const pods = podsOf(layout, round);
  const cpu0 = machineBusyMs();
  const own0 = ownCpuMs();
  const t0 = performance.now();
  await Promise.all(pods.map((body) => core.createNamespacedPod({ namespace, body })));
  let readyMs;
  for (let i = 0; i < 600; i++) {
    if (allReady(await listPods(core), pods.length)) {
      readyMs = performance.now() - t0;
      break;
    }
    await sleep(100);
  }
  if (readyMs === undefined) throw new Error(`${layout.name}: not running within 60 s`);
  // The kubelet's and API server's work right after the start counts too.
  await sleep(1000);
  const cpuMs = machineBusyMs() - cpu0 - (ownCpuMs() - own0);
  return { readyMs, cpuMs };
}

async function clear(core) {
  for (const p of await listPods(core)) {
    await core.deleteNamespacedPod({ name: p.metadata.name, namespace, gracePeriodSeconds: 0 });
  }
  for (let i = 0; i < 600; i++) {
    if ((await listPods(core)).length === 0) break;
    await sleep(200);
  }
  // Let the kubelet's teardown settle before the next start is measured.
  await sleep(2000);
}

await useBenchNamespace(namespace);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const results = Object.fromEntries(LAYOUTS.map((l) => [l.name, { wall: [], cpu: [] }]));
try {
  await clear(core);
  for (let r = 0; r < rounds; r++) {
    for (const layout of LAYOUTS) {
      const { readyMs, cpuMs } = await start(core, layout, r);
      results[layout.name].wall.push(readyMs);
      results[layout.name].cpu.push(cpuMs);
      console.log(
        `  round ${r + 1} ${layout.name}: running after ${readyMs.toFixed(0)} ms, cluster CPU ${(cpuMs / 1000).toFixed(2)} s`,
      );
      await clear(core);
    }
  }
} finally {
  await clear(core).catch(() => {});
  dropBenchNamespace(namespace);
}

const base = median(results['8x1'].cpu);
console.log(`\npod layouts: 4 redis + 4 memcached servers, ${rounds} rounds (median; min-max)\n`);
console.log('| layout | all running | cluster CPU | CPU vs 8x1 |');
console.log('|---|---|---|---|');
for (const l of LAYOUTS) {
  const { wall, cpu } = results[l.name];
  const s = (v) =>
    `${(median(v) / 1000).toFixed(2)} s (${(Math.min(...v) / 1000).toFixed(2)}-${(Math.max(...v) / 1000).toFixed(2)})`;
  console.log(
    `| ${l.pods} pod(s) x ${l.perPod} container(s) | ${s(wall)} | ${s(cpu)} | ${(median(cpu) / base).toFixed(2)}x |`,
  );
}
