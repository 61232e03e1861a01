// Throughput benchmark: GET/SET operations per second through the
// port-forward endpoint versus the Pod IP, on the same pod in one run.
//   usage: node test/bench/throughput.mjs [ops] [concurrency]
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Broker } from '../../dist/index.js';
import { dropBenchNamespace, useBenchNamespace } from './common.mjs';

const ops = Number(process.argv[2] ?? 20000);
const concurrency = Number(process.argv[3] ?? 32);
const namespace = 'kc-bench-throughput';
await useBenchNamespace(namespace);

const broker = await Broker.start();
// Two endpoints onto one pod would need two leases; two pods of the same
// image on the same node are equivalent and keep the leases independent.
const [direct, forwarded] = await Promise.all([
  broker.acquire({ engine: 'redis', worker: 'ip', options: { endpoint: 'pod-ip' } }),
  broker.acquire({ engine: 'redis', worker: 'pf', options: { endpoint: 'port-forward' } }),
]);

async function run(lease) {
  const client = new Redis({
    host: lease.host,
    port: lease.port,
    password: lease.auth?.password,
    lazyConnect: true,
  });
  await client.connect();
  const value = 'v'.repeat(64);
  let next = 0;
  const worker = async () => {
    while (next < ops) {
      const i = next++;
      if (i % 2 === 0) await client.set(`k${i % 1000}`, value);
      else await client.get(`k${i % 1000}`);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  client.disconnect();
  return ops / secs;
}

// Alternate the two, twice, so load drift hits both alike; keep each one's best.
const ip = [];
const pf = [];
for (let round = 0; round < 2; round++) {
  ip.push(await run(direct));
  pf.push(await run(forwarded));
}
await broker.teardown();
dropBenchNamespace(namespace);
const bestIp = Math.max(...ip);
const bestPf = Math.max(...pf);
console.log(
  `throughput benchmark: ${ops} GET/SET ops, ${concurrency} in flight, one ioredis connection`,
);
console.log(`  Pod IP        ${bestIp.toFixed(0).padStart(8)} ops/s`);
console.log(`  port-forward  ${bestPf.toFixed(0).padStart(8)} ops/s`);
console.log(`  ratio port-forward / Pod IP  ${(bestPf / bestIp).toFixed(2)}x  (target >= 0.50x)`);
