// Reset benchmark: returns a 1,000-key seeded redis to its seeded state over
// the Pod IP with each candidate strategy, and prints p50/p95 side by side:
//   - DEBUG RELOAD NOSAVE of the seeded dump.rdb (what kubecache uses for an RDB seed),
//   - FLUSHALL + pipelined RESTORE of DUMP payloads taken once,
//   - a pod restart (delete, then a fresh seeded pod) as the slow baseline.
//   usage: node test/bench/reset.mjs [iterations]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ioredisCommander } from '../../dist/engines/redis/commander.js';
import { captureDumps, restoreDumps } from '../../dist/engines/redis/reset.js';
import { Broker, startBrokerApi } from '../../dist/index.js';
import { BrokerClient } from '../../dist/worker/broker-client.js';
import { openCache } from '../../dist/worker/open-cache.js';
import { dropBenchNamespace, quantile, useBenchNamespace } from './common.mjs';

const iterations = Number(process.argv[2] ?? 300);
const namespace = 'kc-bench-reset';
await useBenchNamespace(namespace);

const broker = await Broker.start();
const api = await startBrokerApi(broker);
const client = new BrokerClient(api.url, api.token);

// The fixture: 1,000 keys of every type, written by the cluster's redis.
const source = await openCache('redis', { broker: client, worker: 'source' });
const p = source.client.pipeline();
for (let i = 0; i < 1000; i++) {
  const k = `key:${i}`;
  switch (i % 5) {
    case 0:
      p.set(k, `value-${i}`.repeat(4));
      break;
    case 1:
      p.hset(k, { a: String(i), b: 'x'.repeat(20) });
      break;
    case 2:
      p.rpush(k, 'a', 'b', 'c', String(i));
      break;
    case 3:
      p.sadd(k, 'a', 'b', String(i));
      break;
    default:
      p.zadd(k, i, 'm1', i + 1, 'm2');
  }
  if (i % 10 === 0) p.expire(k, 86400);
}
await p.exec();
const fixture = join(mkdtempSync(join(tmpdir(), 'kc-reset-')), 'k1000.rdb');
await source.snapshot(fixture);
await source.close();

const cache = await openCache('redis', {
  broker: client,
  worker: 'bench',
  seed: { kind: 'rdb', path: fixture },
  options: { endpoint: 'pod-ip' },
});
const redis = cache.client;
const dumps = await captureDumps(ioredisCommander(redis));
if (dumps.length !== 1000) throw new Error(`expected 1000 keys, captured ${dumps.length}`);

async function measure(name, n, dirty, reset) {
  const times = [];
  for (let i = 0; i < n; i++) {
    await dirty();
    const t0 = performance.now();
    await reset();
    times.push(performance.now() - t0);
    if ((await redis.dbsize()) !== 1000)
      throw new Error(`${name} left ${await redis.dbsize()} keys`);
    if ((await redis.get('changed')) !== null) throw new Error(`${name} kept a change`);
  }
  return { name, p50: quantile(times, 0.5), p95: quantile(times, 0.95), n };
}

// Each round changes the dataset first, so every reset has real work to undo.
const dirty = async () => {
  await redis.set('changed', '1');
  await redis.del('key:1', 'key:2');
};
const results = [];
for (let round = 0; round < 2; round++) {
  // Interleaved rounds, so drift in machine load hits both strategies alike.
  results.push(
    // cache.reset(): DEBUG RELOAD NOSAVE, over the admin login when auth is on.
    await measure('DEBUG RELOAD NOSAVE', iterations / 2, dirty, () => cache.reset()),
  );
  results.push(
    await measure('FLUSHALL + pipelined RESTORE', iterations / 2, dirty, () =>
      restoreDumps(ioredisCommander(redis), dumps),
    ),
  );
}
const restart = [];
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  const lease = await broker.acquire({
    engine: 'redis',
    worker: `restart${i}`,
    seed: { kind: 'rdb', path: fixture },
  });
  restart.push(performance.now() - t0);
  await broker.release(lease.id, { destroy: true });
}
await cache.close();
await api.close();
await broker.teardown();
dropBenchNamespace(namespace);

const merged = (name) => {
  const rs = results.filter((r) => r.name === name);
  return { name, p50: Math.max(...rs.map((r) => r.p50)), p95: Math.max(...rs.map((r) => r.p95)) };
};
const rows = [merged('DEBUG RELOAD NOSAVE'), merged('FLUSHALL + pipelined RESTORE')];
rows.push({
  name: 'pod restart (new seeded pod)',
  p50: quantile(restart, 0.5),
  p95: quantile(restart, 0.95),
});
console.log(
  `reset benchmark: 1,000-key fixture over the Pod IP, ${iterations} resets per strategy (auth ${cache.password ? 'on: reset runs as the admin login' : 'off'})`,
);
for (const r of rows) {
  console.log(
    `  ${r.name.padEnd(32)} p50 ${r.p50.toFixed(2).padStart(8)} ms   p95 ${r.p95.toFixed(2).padStart(8)} ms`,
  );
}
const [reload, restore, pod] = rows;
console.log(`  ratio DEBUG RELOAD / RESTORE p50   ${(reload.p50 / restore.p50).toFixed(2)}x`);
console.log(`  ratio DEBUG RELOAD / pod restart   ${(reload.p50 / pod.p50).toFixed(4)}x`);
console.log(
  `  kubecache uses: ${reload.p50 <= restore.p50 ? 'DEBUG RELOAD NOSAVE' : 'FLUSHALL + RESTORE'} (target p50 <= 2 ms)`,
);
