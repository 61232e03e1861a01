import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Watch } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { type BrokerApi, startBrokerApi } from '../../src/broker/http-api.js';
import type { SeedRequest } from '../../src/broker/types.js';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import { IDLE_RUN, LABEL_REUSE, LABEL_RUN, LABEL_WORKER, runSelector } from '../../src/names.js';
import { BrokerClient } from '../../src/worker/broker-client.js';
import { openCache } from '../../src/worker/open-cache.js';
import {
  adminCore,
  adminKubeConfig,
  adminKubeconfigPath,
  apiServerRequests,
  deleteNamespace,
  ensureNamespace,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { expectDeletedThenGone, podsBy } from '../support/pods-gone.js';

// Prestart and warm reuse (issue 11) on the dev cluster: real pods, real
// claims with resourceVersion, real reaping. Every run here is a Broker as
// the runner's global setup starts it, with workers reaching it over its
// HTTP API the way test files do.

const here = dirname(fileURLToPath(import.meta.url));
// Per checkout: every test here empties the namespace of kubecache pods
// first, which must not hit another checkout running this file at the same time.
const NS = `kc-speed-${createHash('sha256').update(here).digest('hex').slice(0, 6)}`;
const SEED: SeedRequest = { kind: 'json', path: join(here, '../fixtures/basic.json') };

interface Run {
  broker: Broker;
  api: BrokerApi;
  client: BrokerClient;
  lines: string[];
}

async function startRun(extra: Record<string, string> = {}): Promise<Run> {
  const lines: string[] = [];
  const broker = await Broker.start({
    progress: (line) => lines.push(line),
    env: { KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: NS, ...extra },
  });
  const api = await startBrokerApi(broker);
  return { broker, api, client: new BrokerClient(api.url, api.token), lines };
}

async function endRun(run: Run): Promise<void> {
  await run.api.close();
  await run.broker.teardown();
}

interface PodInfo {
  name: string;
  run: string;
  worker: string;
  reuse: string | undefined;
  phase: string;
  ip: string;
}

async function pods(selector = 'app.kubernetes.io/managed-by=kubecache'): Promise<PodInfo[]> {
  const list = await adminCore().listNamespacedPod({ namespace: NS, labelSelector: selector });
  return list.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => ({
      name: p.metadata?.name ?? '',
      run: p.metadata?.labels?.[LABEL_RUN] ?? '',
      worker: p.metadata?.labels?.[LABEL_WORKER] ?? '',
      reuse: p.metadata?.labels?.[LABEL_REUSE],
      phase: p.status?.phase ?? '',
      ip: p.status?.podIP ?? '',
    }));
}

/**
 * The kept pods once the kubelet reports each Running with its IP: a run
 * hands a pod out when its engine answers, and on a busy node (or
 * containerd 1.6) the pod's status may still read Pending when the run
 * ends. The test talks to kept pods by IP, so it waits for that status.
 */
async function keptPods(count: number): Promise<PodInfo[]> {
  return eventually(
    () => pods(`${LABEL_RUN}=${IDLE_RUN}`),
    (list) => list.length === count && list.every((p) => p.phase === 'Running' && p.ip !== ''),
  );
}

async function deleteAllKubecachePods(): Promise<void> {
  const core = adminCore();
  for (const p of await pods()) {
    await core
      .deleteNamespacedPod({ name: p.name, namespace: NS, gracePeriodSeconds: 0 })
      .catch(() => {});
  }
  await eventually(pods, (left) => left.length === 0);
}

// Locked caches (auth, the redis default) are never kept: reuse needs open ones.
const REUSE = { KUBECACHE_REUSE: '1' };

describe('prestart and warm reuse on the dev cluster', () => {
  beforeAll(async () => {
    await ensureNamespace(NS);
  });

  // Each test counts the kept pods of the namespace: none may be left from
  // an earlier test (or an earlier, interrupted run of this file).
  beforeEach(async () => {
    await deleteAllKubecachePods();
  });

  afterAll(async () => {
    await deleteNamespace(NS);
  });

  it('workers adopt prestarted pods; the unused ones are deleted at teardown', async () => {
    const run = await startRun();
    try {
      run.broker.prestart([{ shape: { engine: 'redis', seed: SEED }, count: 3 }]);
      // Two workers open their caches the way a test file does.
      const [a, b] = await Promise.all(
        ['1', '2'].map((worker) => openCache('redis', { broker: run.client, worker, seed: SEED })),
      );
      const live = await pods(runSelector(run.broker.runId));
      expect(live).toHaveLength(3);
      const prestarted = live.filter((p) => p.worker.startsWith('pre')).map((p) => p.name);
      expect(prestarted).toHaveLength(3);
      expect(prestarted).toContain(a?.podName);
      expect(prestarted).toContain(b?.podName);
      expect(a?.podName).not.toBe(b?.podName);
      // Adopted pods are seeded by the worker like new ones.
      expect(await a?.client.get('string:1')).toBe('hello ada');
      expect(a?.lease.reused).toBe(false);
      // The worker's next file gets its pod back.
      const again = await openCache('redis', { broker: run.client, worker: '1', seed: SEED });
      expect(again.podName).toBe(a?.podName);
      await Promise.all([a?.close(), b?.close(), again.close()]);
    } finally {
      await endRun(run);
    }
    expect(run.lines.join('\n')).toContain('2 of 3 pod(s) adopted; 1 unused deleted');
    expect(await pods(runSelector(run.broker.runId))).toEqual([]);
  });

  it('a prestart whose image cannot be pulled fails the worker that takes it, without a second pod', async () => {
    const run = await startRun({ KUBECACHE_REDIS_IMAGE: 'redis:does-not-exist' });
    // Every pod the run creates, from a watch: a pod that fails at once is
    // gone before a later list could see it.
    const created = new Set<string>();
    const watch = await new Watch(adminKubeConfig()).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: runSelector(run.broker.runId) },
      (type: string, pod: { metadata?: { name?: string } }) => {
        if (type === 'ADDED') created.add(pod.metadata?.name ?? '');
      },
      () => {},
    );
    const errors: unknown[] = [];
    try {
      run.broker.prestart([{ shape: { engine: 'redis' }, count: 2 }]);
      for (const outcome of await Promise.allSettled(
        ['1', '2'].map((worker) => openCache('redis', { broker: run.client, worker })),
      )) {
        expect(outcome.status).toBe('rejected');
        if (outcome.status === 'rejected') errors.push(outcome.reason);
      }
    } finally {
      await endRun(run);
      watch.abort();
    }
    for (const err of errors) {
      const e = err as KubecacheError;
      // IMAGE_PULL, not TIMEOUT: the failed pull is reported as it happens,
      // not after the wait for a pod to run (timeouts.podRunningMs).
      expect(e.code).toBe('IMAGE_PULL');
      // The worker is told its prestarted pod's failure and why no other pod started.
      expect(e.details.pod).toMatch(/-pre\d-/);
      expect(e.message).toContain('redis:does-not-exist');
      expect(e.message).toContain('so kubecache started no second pod');
      expect(e.message).toContain('next: check the image name and tag');
    }
    // The two prestarted pods, and no pod of a worker's own.
    expect([...created].sort()).toEqual([...created].filter((n) => /-pre\d-/.test(n)).sort());
    expect(created.size).toBe(2);
    const summary = run.lines.find((l) => l.includes('[kubecache] prestart:')) ?? '';
    expect(summary).toContain(
      '0 of 2 pod(s) adopted; 0 unused deleted; 2 failed to start, and each pod was deleted when it failed. First failure: [IMAGE_PULL]',
    );
    expect(summary).toContain('redis:does-not-exist');
    // Nothing of the run is left: each failed pod and its Secret went when it failed.
    await expectDeletedThenGone(podsBy(NS, runSelector(run.broker.runId)));
    const secrets = await adminCore().listNamespacedSecret({
      namespace: NS,
      labelSelector: runSelector(run.broker.runId),
    });
    expect(secrets.items.map((s) => s.metadata?.name)).toEqual([]);
  });

  it('prestarts a worker was still waiting for at teardown count as unused, not failed', async () => {
    // A worker asks and its run ends before the pod is up (an interrupted
    // run, or a file whose tests were all filtered out after useCache asked).
    const run = await startRun();
    let asked: Promise<unknown[]> | undefined;
    try {
      run.broker.prestart([{ shape: { engine: 'memcached' }, count: 2 }]);
      // Two workers take both prestarts: teardown finds none left in the pool.
      asked = Promise.all(
        ['1', '2'].map((worker) =>
          run.broker.acquire({ engine: 'memcached', worker }).catch((err: unknown) => err),
        ),
      );
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      await endRun(run);
    }
    for (const outcome of (await asked) ?? []) {
      expect(isKubecacheError(outcome, 'BROKER')).toBe(true);
    }
    const summary = run.lines.find((l) => l.includes('[kubecache] prestart:')) ?? '';
    expect(summary).toBe('[kubecache] prestart: 0 of 2 pod(s) adopted; 2 unused deleted');
    await expectDeletedThenGone(podsBy(NS, runSelector(run.broker.runId)));
  });

  it('a batch of pod starts spends no exec on reading pod IPs', async () => {
    // Reading the IP from /etc/hosts by exec pays only for a pod or two
    // awaited alone; when more start at once, each waits for status.podIP.
    const execs = () =>
      apiServerRequests({ verb: 'CONNECT', resource: 'pods', subresource: 'exec' });
    const run = await startRun();
    try {
      const before = await execs();
      run.broker.prestart([{ shape: { engine: 'memcached' }, count: 3 }]);
      const caches = await Promise.all(
        ['1', '2', '3'].map((worker) => openCache('memcached', { broker: run.client, worker })),
      );
      const names = new Set(caches.map((c) => c.podName));
      expect(names.size).toBe(3);
      for (const name of names) expect(name).toMatch(/-pre\d-/);
      expect(await execs()).toBe(before);
      await Promise.all(caches.map((c) => c.close()));
    } finally {
      await endRun(run);
    }
  });

  it('a kept pod whose data changed after the run starts the next run seeded', async () => {
    const first = await startRun(REUSE);
    let podName: string;
    let login: { username: string; password: string } | undefined;
    try {
      const cache = await openCache('redis', { broker: first.client, worker: '1', seed: SEED });
      podName = cache.podName;
      // redis is locked by default: the kept pod keeps its logins for the next run.
      login = cache.lease.auth;
      expect(login?.password).toBeTruthy();
      await cache.client.set('written-by-test', '1');
      await cache.close();
    } finally {
      await endRun(first);
    }
    const kept = await keptPods(1);
    expect(kept.map((p) => p.name)).toEqual([podName]);
    expect(kept[0]?.reuse).toMatch(/^[0-9a-f]{10}$/);
    // Someone changes the data between runs and even saves it to disk.
    const outside = new Redis({
      host: kept[0]?.ip,
      port: 6379,
      lazyConnect: true,
      username: login?.username,
      password: login?.password,
    });
    await outside.connect();
    await outside.del('string:1');
    await outside.set('changed-between-runs', '1');
    await outside.quit();

    const second = await startRun(REUSE);
    try {
      const cache = await openCache('redis', { broker: second.client, worker: '1', seed: SEED });
      expect(cache.podName).toBe(podName);
      expect(second.lines.join('\n')).toContain(`reusing kept pod ${podName}`);
      expect(cache.lease.auth).toEqual(login);
      expect(await cache.client.get('changed-between-runs')).toBeNull();
      expect(await cache.client.get('written-by-test')).toBeNull();
      expect(await cache.client.get('string:1')).toBe('hello ada');
      // reset() goes back to the seed, not to what was on disk before.
      await cache.client.set('string:1', 'changed');
      await cache.reset();
      expect(await cache.client.get('string:1')).toBe('hello ada');
      await cache.close();
    } finally {
      await endRun(second);
    }
    await deleteAllKubecachePods();
  });

  it('a kept valkey pod is handed out with the redis:// URL a new one gets', async () => {
    const first = await startRun(REUSE);
    let podName: string;
    let url: string;
    try {
      const cache = await openCache('valkey', { broker: first.client, worker: '1', seed: SEED });
      podName = cache.podName;
      url = cache.lease.url;
      await cache.close();
    } finally {
      await endRun(first);
    }
    expect(url).toMatch(/^redis:\/\//);
    await keptPods(1);
    const second = await startRun(REUSE);
    try {
      const cache = await openCache('valkey', { broker: second.client, worker: '1', seed: SEED });
      expect(cache.podName).toBe(podName);
      // The adopted pod's URL is built as a new pod's: same scheme, its own host and port.
      expect(cache.lease.url).toMatch(/^redis:\/\//);
      const byUrl = new Redis(cache.lease.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await byUrl.connect();
      expect(await byUrl.get('string:1')).toBe('hello ada');
      byUrl.disconnect();
      await cache.close();
    } finally {
      await endRun(second);
    }
    await deleteAllKubecachePods();
  });

  it('two concurrent runs with reuse never share a pod', async () => {
    const first = await startRun(REUSE);
    try {
      await Promise.all(
        ['1', '2'].map((worker) => first.broker.acquire({ engine: 'memcached', worker })),
      );
    } finally {
      await endRun(first);
    }
    const kept = (await pods(`${LABEL_RUN}=${IDLE_RUN}`)).map((p) => p.name);
    expect(kept).toHaveLength(2);

    const [b, c] = await Promise.all([startRun(REUSE), startRun(REUSE)]);
    try {
      const [leasesB, leasesC] = await Promise.all(
        [b, c].map((run) =>
          Promise.all(
            ['1', '2', '3'].map((worker) => run.broker.acquire({ engine: 'memcached', worker })),
          ),
        ),
      );
      const namesB = (leasesB ?? []).map((l) => l.podName);
      const namesC = (leasesC ?? []).map((l) => l.podName);
      expect(new Set(namesB).size).toBe(3);
      expect(new Set(namesC).size).toBe(3);
      expect(namesB.filter((n) => namesC.includes(n))).toEqual([]);
      // Kept pods were reused, each by one run only. (A kept pod may also be
      // replaced: one whose check runs past its 3 s bound on a busy node.)
      const adopted = [...namesB, ...namesC].filter((n) => kept.includes(n));
      expect(adopted.length).toBeGreaterThan(0);
      expect(new Set(adopted).size).toBe(adopted.length);
      // Each pod carries the run that holds it.
      const live = await pods();
      for (const name of namesB)
        expect(live.find((p) => p.name === name)?.run).toBe(b.broker.runId);
      for (const name of namesC)
        expect(live.find((p) => p.name === name)?.run).toBe(c.broker.runId);
    } finally {
      await Promise.all([endRun(b), endRun(c)]);
    }
    expect((await pods(`${LABEL_RUN}=${IDLE_RUN}`)).length).toBe(6);
    await deleteAllKubecachePods();
  });

  it('a kept pod that was killed or answers wrongly is replaced, never handed out', async () => {
    const first = await startRun(REUSE);
    try {
      await Promise.all(
        // Unlocked, so that the test can break the servers from outside.
        ['1', '2'].map((worker) =>
          first.broker.acquire({ engine: 'redis', worker, options: { auth: false } }),
        ),
      );
    } finally {
      await endRun(first);
    }
    const kept = await keptPods(2);
    expect(kept).toHaveLength(2);
    const [killed, wrong] = kept as [PodInfo, PodInfo];
    // One server is shut down (the container exits), the other now demands a password.
    const k = new Redis({
      host: killed.ip,
      port: 6379,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    k.on('error', () => {});
    await k.connect();
    await k.call('SHUTDOWN', 'NOSAVE').catch(() => {});
    k.disconnect();
    const w = new Redis({ host: wrong.ip, port: 6379, lazyConnect: true });
    await w.connect();
    await w.config('SET', 'requirepass', 'not-kubecache');
    w.disconnect();
    await eventually(
      () => pods(`${LABEL_RUN}=${IDLE_RUN}`),
      (list) => list.find((p) => p.name === killed.name)?.phase !== 'Running',
    );

    const second = await startRun(REUSE);
    try {
      const lease = await second.broker.acquire({
        engine: 'redis',
        worker: '1',
        options: { auth: false },
      });
      expect([killed.name, wrong.name]).not.toContain(lease.podName);
      const out = second.lines.join('\n');
      expect(out).toContain(`kept pod ${killed.name} is not running`);
      expect(out).toContain(`kept pod ${wrong.name} did not answer correctly`);
      const r = new Redis({ host: lease.host, port: lease.port, lazyConnect: true });
      await r.connect();
      expect(await r.ping()).toBe('PONG');
      r.disconnect();
      const names = (await pods()).map((p) => p.name);
      expect(names).not.toContain(killed.name);
      expect(names).not.toContain(wrong.name);
    } finally {
      await endRun(second);
    }
    await deleteAllKubecachePods();
  });

  it('kept pods are reaped by the next run once their idle time is over', async () => {
    const first = await startRun({ ...REUSE, KUBECACHE_REUSE_IDLE_SECONDS: '2' });
    try {
      await first.broker.acquire({ engine: 'memcached', worker: '1' });
    } finally {
      await endRun(first);
    }
    const kept = await pods(`${LABEL_RUN}=${IDLE_RUN}`);
    expect(kept).toHaveLength(1);
    // Within the idle time another run leaves the pod alone.
    const early = await startRun();
    await endRun(early);
    expect((await pods()).map((p) => p.name)).toEqual([kept[0]?.name]);
    // The idle time, plus the reaper's clock margin (CLOCK_MARGIN_MS, 2 s).
    await new Promise((r) => setTimeout(r, 5_000));
    const later = await startRun();
    await endRun(later);
    expect(later.lines.join('\n')).toContain(`idle past their idle time: ${kept[0]?.name}`);
    expect(await eventually(pods, (left) => left.length === 0)).toEqual([]);
  });
});
