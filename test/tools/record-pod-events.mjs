// Records the pod watch events of real cache pods on the dev cluster into
// test/unit/fixtures/pod-events (replayed by test/unit/pod-lifecycle.test.ts).
// Usage: npm run build && KUBECONFIG=.kubecache-dev/admin.kubeconfig node test/tools/record-pod-events.mjs
// (the namespace kc-ft-x must exist).
import { writeFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { Broker } from '../../dist/index.js';

const NS = 'kc-ft-x';
const OUT = new URL('../unit/fixtures/pod-events', import.meta.url).pathname;
const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const broker = await Broker.start({
  progress: (l) => console.error(l),
  env: { ...process.env, KUBECACHE_NAMESPACE: NS },
});
const events = new Map();
const strip = (o) => {
  if (o?.metadata) delete o.metadata.managedFields;
  return o;
};
const ctl = await new Watch(kc).watch(
  `/api/v1/namespaces/${NS}/pods`,
  { labelSelector: `kubecache.dev/run=${broker.runId}` },
  (type, obj) => {
    const n = obj.metadata.name;
    if (!events.has(n)) events.set(n, []);
    events.get(n).push({ type, object: strip(obj) });
  },
  () => {},
);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const waitFor = async (name, pred, ms = 60000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((events.get(name) ?? []).some(pred)) return;
    await sleep(200);
  }
  console.error('timeout waiting', name);
};
const save = (file, name, about, container, extra = {}) => {
  const evs = events.get(name) ?? [];
  let readyIdx;
  evs.forEach((e, i) => {
    if (readyIdx === undefined && e.object.status?.containerStatuses?.[0]?.ready) readyIdx = i;
  });
  writeFileSync(
    `${OUT}/${file}.json`,
    JSON.stringify(
      {
        about,
        container,
        ...(extra.ready
          ? {
              engineReadyAfter:
                readyIdx ?? evs.findIndex((e) => e.object.status?.phase === 'Running'),
            }
          : {}),
        events: evs,
      },
      null,
      1,
    ),
  );
  console.error(file, evs.length, 'events');
};
const term = (e) => e.object.status?.containerStatuses?.some((c) => c.state?.terminated);

// 1. normal start, then deleted from outside
const a = await broker.acquire({ engine: 'redis', worker: 'rec1' });
await sleep(1500);
await core.deleteNamespacedPod({ name: a.podName, namespace: NS, gracePeriodSeconds: 1 });
await waitFor(a.podName, (e) => e.type === 'DELETED');
save(
  'redis-ready-then-deleted',
  a.podName,
  'a redis pod starts, its engine answers, then kubectl deletes it',
  'redis',
  { ready: true },
);

// 2. OOM after ready
const b = await broker.acquire({
  engine: 'redis',
  worker: 'rec2',
  options: { resources: { limits: { memory: '48Mi' }, requests: { memory: '32Mi' } } },
});
const r = new Redis({
  host: b.host,
  port: b.port,
  maxRetriesPerRequest: 1,
  retryStrategy: () => null,
});
r.on('error', () => {});
const chunk = 'x'.repeat(1 << 20);
for (let i = 0; i < 200; i++) {
  try {
    await r.set(`k${i}`, chunk);
  } catch {
    break;
  }
  if ((events.get(b.podName) ?? []).some(term)) break;
}
await waitFor(b.podName, term);
await sleep(1000);
r.disconnect();
save(
  'redis-oomkilled-after-ready',
  b.podName,
  'a ready redis with a 48Mi limit is filled until it is OOMKilled',
  'redis',
  { ready: true },
);

// 3. SHUTDOWN NOSAVE from inside
const c = await broker.acquire({ engine: 'redis', worker: 'rec3' });
const r3 = new Redis({ host: c.host, port: c.port, retryStrategy: () => null });
r3.on('error', () => {});
await r3.call('SHUTDOWN', 'NOSAVE').catch(() => {});
await waitFor(c.podName, term);
await sleep(1000);
r3.disconnect();
save(
  'redis-shutdown-after-ready',
  c.podName,
  'a ready redis is shut down from inside (SHUTDOWN NOSAVE)',
  'redis',
  { ready: true },
);

// 4. image pull failure
try {
  await broker.acquire({
    engine: 'memcached',
    worker: 'rec4',
    options: { image: 'kubecache.invalid/nope:1', timeouts: { podRunningMs: 20000 } },
  });
} catch (e) {
  console.error('expected', e.code);
}
await sleep(2000);
const badName = [...events.keys()].find((n) => n.includes('rec4'));
save(
  'memcached-image-pull-failure',
  badName,
  'a memcached pod whose image cannot be pulled; kubecache deletes it',
  'memcached',
);

ctl.abort();
await broker.teardown();
process.exit(0);
