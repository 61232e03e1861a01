import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { type BrokerApi, startBrokerApi } from '../../src/broker/http-api.js';
import { Seeder } from '../../src/broker/seeding.js';
import { getEngine } from '../../src/engines/registry.js';
import { execInPod } from '../../src/kube/exec.js';
import { watchPods } from '../../src/kube/pod-watch.js';
import { DELETE_GRACE_SECONDS } from '../../src/kube/pods.js';
import { runSelector } from '../../src/names.js';
import { FixtureRegistry } from '../../src/seed/rdb-file.js';
import { BrokerClient } from '../../src/worker/broker-client.js';
import { openCache } from '../../src/worker/open-cache.js';
import {
  adminCore,
  adminKubeconfigPath,
  deleteNamespace,
  ensureNamespace,
} from '../support/cluster.js';
import { rejection } from '../support/errors.js';

const NS = 'kc-ft';
const here = dirname(fileURLToPath(import.meta.url));
const quiet = { progress: () => {} };

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: NS, ...extra };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function readPod(name: string, namespace = NS): Promise<V1Pod | undefined> {
  return adminCore()
    .readNamespacedPod({ name, namespace })
    .catch(() => undefined);
}

/** An exec seed of the basic RDB fixture, planned for pods the test names. */
async function execSeedPlan(seeder: Seeder) {
  const file = await new FixtureRegistry().validate(join(here, '../fixtures/basic.rdb'));
  return seeder.plan({
    engine: getEngine('redis'),
    args: [],
    file,
    transport: 'exec',
    secretName: 'unused',
    labels: {},
  });
}

describe('fault tolerance on the dev cluster', () => {
  let broker: Broker;
  let api: BrokerApi;
  let client: BrokerClient;
  /** A watch started before everything else, idle for most of this file (claim 2). */
  const idle = { started: 0, seen: [] as string[], stop: () => {} };

  beforeAll(async () => {
    await ensureNamespace(NS);
    broker = await Broker.start({ ...quiet, env: env() });
    api = await startBrokerApi(broker);
    client = new BrokerClient(api.url, api.token);
    idle.started = Date.now();
    idle.stop = watchPods(
      broker.handle,
      { labelSelector: 'kc-ft-idle=1' },
      { onEvent: (type, pod) => idle.seen.push(`${type} ${pod.metadata?.name}`) },
    );
  });

  afterAll(async () => {
    idle.stop();
    await api?.close();
    await broker?.teardown();
    await deleteNamespace(NS);
  });

  it('claim 1: an OOMKilled redis is never handed out again; the test using it gets POD_DIED naming the limit', async () => {
    const opts = { resources: { limits: { memory: '48Mi' }, requests: { memory: '32Mi' } } };
    const cache = await openCache('redis', { worker: 'oom', options: opts, broker: client });
    const first = cache.podName;
    const chunk = 'x'.repeat(1 << 20);
    // 48 MiB of memory holds well under 100 one-MiB values: bounded.
    for (let i = 0; i < 100; i++) {
      const ok = await cache.client.set(`k${i}`, chunk).then(
        () => true,
        () => false,
      );
      if (!ok) break;
    }
    const status = await until('the broker to retire the pod', async () => {
      const s = await client.status(cache.lease.id);
      return s.state === 'gone' ? s : undefined;
    });
    expect(status.code).toBe('POD_DIED');
    expect(status.reason).toContain('OOMKilled');
    expect(status.reason).toContain('48Mi');
    // The test that was using it: its next reset says why.
    const err = await rejection(cache.reset());
    expect(err.code).toBe('POD_DIED');
    expect(err.message).toContain('resources.limits.memory');
    await cache.close();
    // The slot's next use gets a new, working pod.
    const next = await openCache('redis', { worker: 'oom', options: opts, broker: client });
    try {
      expect(next.podName).not.toBe(first);
      expect(next.lease.reused).toBe(false);
      expect(await next.client.ping()).toBe('PONG');
    } finally {
      await next.close();
    }
  });

  it('claim 1: a redis killed from inside after it was ready is replaced, with its last log lines', async () => {
    const cache = await openCache('redis', { worker: 'shutdown', broker: client });
    const first = cache.podName;
    // Killed from inside: SIGTERM to redis, whether it is PID 1 or the child
    // of a wrapper shell (kill -1 reaches every process but PID 1).
    await execInPod(broker.handle, {
      pod: first,
      container: 'redis',
      command: ['sh', '-c', 'kill 1; kill -TERM -1'],
      timeoutMs: 10_000,
    }).catch(() => undefined);
    const status = await until('the broker to retire the pod', async () => {
      const s = await client.status(cache.lease.id);
      return s.state === 'gone' && s.reason?.includes('last log lines') ? s : undefined;
    });
    expect(status.code).toBe('POD_DIED');
    expect(status.reason).toContain('exited with code');
    expect(status.reason).toMatch(
      /ready to exit|Redis is now ready to exit|User requested shutdown/i,
    );
    await cache.close();
    const lease = await broker.acquire({ engine: 'redis', worker: 'shutdown' });
    expect(lease.podName).not.toBe(first);
    expect(lease.reused).toBe(false);
  });

  it('claim 8: deletes keep a grace period: the pod is terminating, not gone, right after the delete', async () => {
    const lease = await broker.acquire({ engine: 'memcached', worker: 'grace' });
    await broker.release(lease.id, { destroy: true });
    const pod = await readPod(lease.podName);
    // A force delete (grace 0) removes the object before the kubelet stopped the container.
    expect(pod?.metadata?.deletionTimestamp).toBeDefined();
    expect(pod?.metadata?.deletionGracePeriodSeconds).toBe(DELETE_GRACE_SECONDS);
    expect(DELETE_GRACE_SECONDS).toBeGreaterThan(0);
    await until('the pod to be gone', async () =>
      (await readPod(lease.podName)) ? undefined : true,
    );
  });

  it('claim 3: a starting pod keeps its lease, so another run never reaps it', async () => {
    const short = { KUBECACHE_TIMEOUT_LEASE_MS: '3000', KUBECACHE_TIMEOUT_LEASE_RENEW_MS: '1000' };
    const slow = await Broker.start({ ...quiet, env: env(short) });
    try {
      // The engine listens on another port than probed: the pod runs but never becomes ready.
      const start = slow.acquire({
        engine: 'redis',
        worker: 'slow',
        options: {
          args: ['--port', '6380'],
          endpoint: 'pod-ip',
          timeouts: { podRunningMs: 12_000, probeMs: 1_000 },
        },
      });
      start.catch(() => undefined);
      const name = await until('the slow pod to exist', async () => {
        const list = await adminCore().listNamespacedPod({
          namespace: NS,
          labelSelector: runSelector(slow.runId),
        });
        return list.items[0]?.metadata?.name;
      });
      // Past the lease as set at creation (3 s), another run starts and reaps.
      await sleep(6_000);
      const other = await Broker.start({ ...quiet, env: env(short) });
      await other.teardown();
      const pod = await readPod(name);
      // Still there, and not being deleted: a pod already reaped and gone reads undefined too.
      expect(pod?.metadata?.name).toBe(name);
      expect(pod?.metadata?.deletionTimestamp).toBeUndefined();
      expect((await rejection(start)).code).toBe('TIMEOUT');
    } finally {
      await slow.teardown();
    }
  });

  it('claim 4: retried exec pushes of a seed leak no file descriptors', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const seeder = new Seeder(broker.handle, {}, { podRunningMs: 3_000, execMs: 1_000 });
    const plan = await execSeedPlan(seeder);
    const before = fds();
    // No such pod: every attempt is refused until the deadline, dozens of them.
    await rejection(plan.duringStart('kc-no-such-pod'));
    await sleep(200);
    expect(fds() - before).toBeLessThan(3);
    await seeder.close();
  });

  it('claim 4b: an exec push stops once its start is over, not at the end of podRunningMs', async () => {
    // A budget that would keep the refused pushes going for the rest of the file.
    const seeder = new Seeder(broker.handle, {}, { podRunningMs: 120_000, execMs: 1_000 });
    const plan = await execSeedPlan(seeder);
    const startOver = new AbortController();
    const push = rejection(plan.duringStart('kc-no-such-pod', startOver.signal));
    await sleep(300);
    startOver.abort();
    // Settled long before its own budget: it stopped because the start did.
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      push,
      new Promise<'still pushing'>((r) => {
        timer = setTimeout(() => r('still pushing'), 20_000);
      }),
    ]);
    clearTimeout(timer);
    expect(outcome).not.toBe('still pushing');
    expect((outcome as Awaited<typeof push>).code).toMatch(/^(POD_GONE|EXEC_FAILED)$/);
    await seeder.close();
  });

  it('claim 6: a JSON seed keeps its TTLs across reset, and a failing seed does not break its slot', async () => {
    const seedPath = join(here, '../fixtures/ttl-seed.json');
    const cache = await openCache('redis', {
      worker: 'ttl',
      seed: { kind: 'json', path: seedPath },
      broker: client,
    });
    try {
      await sleep(1_500);
      await cache.reset();
      const pttl = await cache.client.pttl('short');
      expect(pttl).toBeGreaterThan(0);
      expect(await cache.client.get('short')).toBe('lives 1 s');
    } finally {
      await cache.close();
    }
    let calls = 0;
    const failing = async (): Promise<void> => {
      calls += 1;
      throw new Error('seed bug');
    };
    const err = await rejection(
      openCache('redis', { worker: 'badseed', seed: failing, broker: client }),
    );
    expect(err.message).toContain('seed bug');
    const okSeed = async (c: Redis): Promise<void> => {
      await c.set('seeded', 'yes');
    };
    const next = await openCache('redis', { worker: 'badseed', seed: okSeed, broker: client });
    try {
      expect(await next.client.get('seeded')).toBe('yes');
    } finally {
      await next.close();
    }
    expect(calls).toBe(1);
  });

  it('claim 6: two seed functions with the same source text each get their own data', async () => {
    const make = (value: string) => async (c: Redis) => {
      await c.set('who', value);
    };
    const a = await openCache('redis', { worker: 'same-text', seed: make('a'), broker: client });
    expect(await a.client.get('who')).toBe('a');
    await a.close();
    // The same slot, a function with the same text but another value: its data, not a's.
    const b = await openCache('redis', { worker: 'same-text', seed: make('b'), broker: client });
    try {
      expect(await b.client.get('who')).toBe('b');
      await b.client.set('who', 'changed');
      await b.reset();
      expect(await b.client.get('who')).toBe('b');
    } finally {
      await b.close();
    }
  });

  it('claim 2: a pod watch idle for longer than client-node idle timeout still sees the next event', async () => {
    // client-node ends a watch after 30 s without data; the old watch gave up after three.
    const idleFor = Date.now() - idle.started;
    if (idleFor < 95_000) await sleep(95_000 - idleFor);
    const name = `kc-ft-idle-${Date.now().toString(36)}`;
    await adminCore().createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name, labels: { 'kc-ft-idle': '1' } },
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'x', image: 'redis:7-alpine', command: ['sleep', '1'] }],
        },
      },
    });
    try {
      await until(
        'the idle watch to see the pod',
        async () => (idle.seen.some((e) => e.endsWith(name)) ? true : undefined),
        10_000,
      );
    } finally {
      await adminCore()
        .deleteNamespacedPod({ name, namespace: NS })
        .catch(() => undefined);
    }
  }, 150_000);
});
