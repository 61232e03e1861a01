// What locking costs: startup (setup start → first authenticated answer, one
// worker) and reset (seeded redis, 1,000 keys, Pod IP) with auth and TLS off
// and on. The variants run interleaved round by round, so drift in machine
// load (other suites on the same 2 cores) hits them alike.
//   usage: node test/bench/security.mjs [startup rounds] [resets per variant]
import { performance } from 'node:perf_hooks';
import memjs from 'memjs';
import { Broker, startBrokerApi } from '../../dist/index.js';
import { BrokerClient } from '../../dist/worker/broker-client.js';
import { openCache } from '../../dist/worker/open-cache.js';
import { dropBenchNamespace, median, ping, quantile, useBenchNamespace } from './common.mjs';

const rounds = Number(process.argv[2] ?? 7);
const resets = Number(process.argv[3] ?? 400);
const namespace = 'kc-bench-security';
await useBenchNamespace(namespace);
process.env.KUBECACHE_QUIET = '1';

const startupVariants = [
  { name: 'redis, auth off', engine: 'redis', options: { auth: false } },
  { name: 'redis, auth on (default)', engine: 'redis', options: {} },
  { name: 'redis, auth + TLS', engine: 'redis', options: { tls: true } },
  { name: 'memcached, SASL off (default)', engine: 'memcached', options: {} },
  { name: 'memcached, SASL on', engine: 'memcached', options: { auth: true } },
];

async function answers(lease) {
  if (lease.engine === 'redis') return ping(lease.host, lease.port, 3000, lease);
  const client = memjs.Client.create(`${lease.host}:${lease.port}`, {
    retries: 0,
    logger: { log: () => {} },
    ...(lease.auth ?? {}),
  });
  try {
    await client.get('startup-probe');
  } finally {
    client.close();
  }
}

/** One cold start: a fresh broker (as a run does), one cache, one answer. */
async function startOnce(v) {
  const t0 = performance.now();
  const broker = await Broker.start();
  try {
    const lease = await broker.acquire({ engine: v.engine, worker: '1', options: v.options });
    await answers(lease);
    stages.get(v.name).push(lease.timings);
    return performance.now() - t0;
  } finally {
    await broker.teardown();
  }
}

const startup = new Map(startupVariants.map((v) => [v.name, []]));
/** The pod's own stages (created, running, ready; ms since the create call) per variant. */
const stages = new Map(startupVariants.map((v) => [v.name, []]));
const only = process.env.BENCH_ONLY;
if (only) {
  for (const v of [...startupVariants]) {
    if (!v.name.startsWith(only)) startupVariants.splice(startupVariants.indexOf(v), 1);
  }
}
for (let r = 0; r < rounds; r++) {
  for (const v of startupVariants) {
    // The dev cluster's API server may be restarted by other suites: retry a little.
    for (let attempt = 1; ; attempt++) {
      try {
        startup.get(v.name).push(await startOnce(v));
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
        await new Promise((res) => setTimeout(res, 3000));
      }
    }
  }
}

if (process.env.BENCH_SKIP_RESET) {
  for (const v of startupVariants) {
    console.log(
      v.name,
      median(startup.get(v.name)).toFixed(0),
      startup
        .get(v.name)
        .map((t) => t.toFixed(0))
        .join(','),
      JSON.stringify(stages.get(v.name)),
    );
  }
  dropBenchNamespace(namespace);
  process.exit(0);
}

// Reset: a redis seeded with 1,000 keys per variant (a function seed), reset
// in turns: FLUSHALL as the admin login when auth is on, then the seed
// function writes the 1,000 keys again through the test's client.
const broker = await Broker.start();
const api = await startBrokerApi(broker);
const client = new BrokerClient(api.url, api.token);
const resetVariants = [
  { name: 'auth off', options: { auth: false } },
  { name: 'auth on (reset as admin)', options: {} },
  { name: 'auth + TLS', options: { tls: true } },
];
const seed = async (redis) => {
  const p = redis.pipeline();
  for (let k = 0; k < 1000; k++) p.set(`key:${k}`, `value-${k}`);
  await p.exec();
};
const caches = [];
for (const [i, v] of resetVariants.entries()) {
  const cache = await openCache('redis', {
    broker: client,
    worker: `reset${i}`,
    seed,
    options: { endpoint: 'pod-ip', ...v.options },
  });
  caches.push({ v, cache, times: [] });
}
for (let i = 0; i < resets; i++) {
  for (const c of caches) {
    await c.cache.client.set('changed', '1');
    await c.cache.client.del('key:1');
    const t0 = performance.now();
    await c.cache.reset();
    c.times.push(performance.now() - t0);
    if ((await c.cache.client.exists('changed')) !== 0) throw new Error('reset kept a change');
    if ((await c.cache.client.dbsize()) !== 1000) throw new Error('reset lost keys');
  }
}
for (const c of caches) await c.cache.close();
await api.close();
await broker.teardown();
dropBenchNamespace(namespace);

console.log(`security benchmark: startup, ${rounds} interleaved rounds, medians`);
const base = {};
for (const v of startupVariants) base[v.engine] ??= median(startup.get(v.name));
for (const v of startupVariants) {
  const m = median(startup.get(v.name));
  const st = (key) => median(stages.get(v.name).map((t) => t[key] ?? t.ready)).toFixed(0);
  const runs = startup
    .get(v.name)
    .map((t) => t.toFixed(0))
    .join(', ');
  console.log(
    `  ${v.name.padEnd(32)} ${m.toFixed(0).padStart(6)} ms  (${(m / base[v.engine]).toFixed(2)}x unlocked ${v.engine})  [${runs}]  pod: created ${st('created')}, running ${st('running')}, ready ${st('ready')} ms`,
  );
}
console.log(`reset: seeded redis, 1,000 keys, Pod IP, ${resets} resets per variant, interleaved`);
for (const c of caches) {
  console.log(
    `  ${c.v.name.padEnd(32)} p50 ${quantile(c.times, 0.5).toFixed(2)} ms   p95 ${quantile(c.times, 0.95).toFixed(2)} ms`,
  );
}
