// Added time per test file once a worker's pod is warm (issue 11, target
// <= 20 ms): what useCache costs a file whose worker already has its seeded
// pod — the broker round trip, a new client, the reset to the seed and the
// close — against the same client work on a local redis-server (connect,
// DEBUG RELOAD, quit). Both sides run here, one after the other.
//   usage: node test/bench/per-file.mjs [files]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ioredisCommander } from '../../dist/engines/redis/commander.js';
import { applyRedisJsonSeed, parseRedisJsonSeed } from '../../dist/engines/redis/seed.js';
import { Broker, startBrokerApi } from '../../dist/index.js';
import { loadJsonSeedFile } from '../../dist/seed/json-fixture.js';
import { BrokerClient } from '../../dist/worker/broker-client.js';
import { openCache } from '../../dist/worker/open-cache.js';
import { startRedis } from '../unit/helpers/local-servers.ts';
import { dropBenchNamespace, quantile, useBenchNamespace } from './common.mjs';

const files = Number(process.argv[2] ?? 200);
const namespace = 'kc-bench-per-file';
const seedPath = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/basic.json');
const seed = { kind: 'json', path: seedPath };
await useBenchNamespace(namespace);

const broker = await Broker.start();
const api = await startBrokerApi(broker);
const client = new BrokerClient(api.url, api.token);
// The worker's first file: creates and seeds the pod (not measured).
await (await openCache('redis', { broker: client, worker: '1', seed })).close();

const kube = [];
for (let i = 0; i < files; i++) {
  const t0 = performance.now();
  const handle = await openCache('redis', { broker: client, worker: '1', seed });
  await handle.close();
  kube.push(performance.now() - t0);
}
await api.close();
await broker.teardown();
dropBenchNamespace(namespace);

const server = await startRedis([
  '--dir',
  mkdtempSync(join(tmpdir(), 'kc-per-file-')),
  '--enable-debug-command',
  'yes',
]);
const first = new Redis({ host: server.host, port: server.port });
await applyRedisJsonSeed(
  ioredisCommander(first),
  await loadJsonSeedFile(seedPath, parseRedisJsonSeed),
);
await first.call('SAVE');
await first.quit();
const local = [];
for (let i = 0; i < files; i++) {
  const t0 = performance.now();
  const r = new Redis({ host: server.host, port: server.port, lazyConnect: true });
  await r.connect();
  await r.call('DEBUG', 'RELOAD', 'NOSAVE');
  await r.quit();
  local.push(performance.now() - t0);
}
await server.stop();

const p = (v, q) => quantile(v, q).toFixed(2);
console.log(`per-file cost with a warm per-worker pod, ${files} files, seeded redis`);
console.log(
  `  kubecache (acquire + connect + reset + close)  p50 ${p(kube, 0.5)} ms  p95 ${p(kube, 0.95)} ms`,
);
console.log(
  `  local redis-server (connect + reset + quit)    p50 ${p(local, 0.5)} ms  p95 ${p(local, 0.95)} ms`,
);
console.log(
  `  added by kubecache per file (p50 difference)   ${(quantile(kube, 0.5) - quantile(local, 0.5)).toFixed(2)} ms  (target <= 20 ms)`,
);
