// Startup benchmark: time from setup start until the first cache answers
// PING, for 1 worker and for 4 workers in parallel, against the by-hand
// baseline on the same cluster (kubectl run + kubectl wait Ready + PING).
// KUBECACHE_AUTH / KUBECACHE_TLS pick the security settings measured; a
// locked cache counts as up once an authenticated command succeeds.
//   usage: node test/bench/startup.mjs [rounds] [redis|memcached]
import { performance } from 'node:perf_hooks';
import memjs from 'memjs';
import { Broker } from '../../dist/index.js';
import { dropBenchNamespace, fmt, kubectl, median, ping, useBenchNamespace } from './common.mjs';

const rounds = Number(process.argv[2] ?? 5);
const engine = process.argv[3] ?? 'redis';
const image = engine === 'memcached' ? 'memcached:1.6-alpine' : 'redis:7-alpine';
const namespace = 'kc-bench-startup';

/** One memcached command with the lease's login (SASL when auth is on). */
async function memcachedAnswers(host, port, lease) {
  const client = memjs.Client.create(`${host}:${port}`, {
    retries: 0,
    logger: { log: () => {} },
    ...(lease?.auth ?? {}),
  });
  try {
    await client.get('startup-probe');
  } finally {
    client.close();
  }
}

const answers = (host, port, lease) =>
  engine === 'memcached' ? memcachedAnswers(host, port, lease) : ping(host, port, 3000, lease);
await useBenchNamespace(namespace);

async function baseline(i) {
  const name = `baseline-${i}`;
  const t0 = performance.now();
  kubectl(['-n', namespace, 'run', name, `--image=${image}`, '--restart=Never']);
  kubectl(['-n', namespace, 'wait', '--for=condition=Ready', `pod/${name}`, '--timeout=60s']);
  const ip = kubectl([
    '-n',
    namespace,
    'get',
    'pod',
    name,
    '-o',
    'jsonpath={.status.podIP}',
  ]).trim();
  await answers(ip, engine === 'memcached' ? 11211 : 6379);
  const ms = performance.now() - t0;
  kubectl(['-n', namespace, 'delete', 'pod', name, '--grace-period=0', '--wait=true']);
  return ms;
}

async function kubecache(workers, prestart = false) {
  const t0 = performance.now();
  const broker = await Broker.start();
  // What global setup does when it knows the worker count (issue 11).
  if (prestart) broker.prestart([{ shape: { engine: 'redis' }, count: workers }]);
  let first = 0;
  const leases = await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const lease = await broker.acquire({ engine, worker: String(w + 1) });
      await answers(lease.host, lease.port, lease);
      first ||= performance.now() - t0;
      return lease;
    }),
  );
  const ms = performance.now() - t0;
  await broker.teardown();
  return { ms, first, endpoint: leases[0].endpoint };
}

const base = [];
const one = [];
const four = [];
const fourFirst = [];
const onePre = [];
const fourPre = [];
let endpoint = '';
for (let i = 0; i < rounds; i++) {
  base.push(await baseline(i));
  const a = await kubecache(1);
  one.push(a.ms);
  endpoint = a.endpoint;
  const r4 = await kubecache(4);
  four.push(r4.ms);
  fourFirst.push(r4.first);
  onePre.push((await kubecache(1, true)).ms);
  fourPre.push((await kubecache(4, true)).ms);
}
dropBenchNamespace(namespace);

const b = median(base);
const o = median(one);
const f = median(four);
const ff = median(fourFirst);
const security = `auth ${process.env.KUBECACHE_AUTH ?? 'default (on)'}, tls ${process.env.KUBECACHE_TLS ?? 'default (off)'}`;
console.log(
  `startup benchmark, ${engine}, ${rounds} rounds, medians (endpoint: ${endpoint}; ${security})`,
);
console.log(
  `  baseline kubectl run + wait Ready + PING  ${fmt(b)}   [${base.map((v) => v.toFixed(0)).join(', ')}]`,
);
console.log(
  `  kubecache, 1 worker                       ${fmt(o)}   [${one.map((v) => v.toFixed(0)).join(', ')}]`,
);
console.log(
  `  kubecache, 4 workers, first answers       ${fmt(ff)}   [${fourFirst.map((v) => v.toFixed(0)).join(', ')}]`,
);
console.log(
  `  kubecache, 4 workers, all 4 answer        ${fmt(f)}   [${four.map((v) => v.toFixed(0)).join(', ')}]`,
);
console.log(
  `  kubecache, prestart, 1 worker             ${fmt(median(onePre))}   [${onePre.map((v) => v.toFixed(0)).join(', ')}]`,
);
console.log(
  `  kubecache, prestart, 4 workers, all 4     ${fmt(median(fourPre))}   [${fourPre.map((v) => v.toFixed(0)).join(', ')}]`,
);
console.log(`  ratio 1 worker / baseline   ${(o / b).toFixed(2)}x  (target <= 0.60x)`);
console.log(`  ratio 4 workers (first) / 1 worker  ${(ff / o).toFixed(2)}x  (target <= 1.30x)`);
console.log(`  ratio 4 workers (all) / 1 worker    ${(f / o).toFixed(2)}x  (target <= 1.30x)`);
console.log(
  `  ratio with prestart, 4 workers (all) / 1 worker  ${(median(fourPre) / median(onePre)).toFixed(2)}x  (target <= 1.30x)`,
);
