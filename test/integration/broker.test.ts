import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { startBrokerApi } from '../../src/broker/http-api.js';
import type { CacheLease } from '../../src/broker/types.js';
import { engines } from '../../src/engines/registry.js';
import { isKubecacheError } from '../../src/errors.js';
import { connectKube } from '../../src/kube/client.js';
import { CLOCK_MARGIN_MS } from '../../src/kube/reaper.js';
import { LABEL_RUN, managedSelector, runSelector } from '../../src/names.js';
import { BrokerClient } from '../../src/worker/broker-client.js';
import {
  adminCore,
  adminKubeconfigPath,
  deleteNamespace,
  ensureNamespace,
  serviceAccountKubeconfig,
} from '../support/cluster.js';
import { rejection } from '../support/errors.js';
import { expectDeletedThenGone, podsBy } from '../support/pods-gone.js';

const NS = 'kc-broker';
const here = dirname(fileURLToPath(import.meta.url));
const quiet = { progress: () => {} };

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: NS, ...extra };
}

async function podsOf(selector: string): Promise<string[]> {
  const list = await adminCore().listNamespacedPod({ namespace: NS, labelSelector: selector });
  return list.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name ?? '');
}

async function allPodsOf(selector: string): Promise<string[]> {
  const list = await adminCore().listNamespacedPod({ namespace: NS, labelSelector: selector });
  return list.items.map((p) => p.metadata?.name ?? '');
}

async function expectAnswers(lease: CacheLease): Promise<void> {
  await engines[lease.engine].probe(lease.host, lease.port, 3000);
}

describe('broker on the dev cluster', () => {
  let broker: Broker;

  beforeAll(async () => {
    await ensureNamespace(NS);
    broker = await Broker.start({ ...quiet, env: env() });
  });

  afterAll(async () => {
    await broker?.teardown();
    await deleteNamespace(NS);
  });

  it('serves redis and memcached over the Pod IP and over a port-forward', async () => {
    const [redisIp, redisPf, mcIp, mcPf] = await Promise.all([
      broker.acquire({ engine: 'redis', worker: '1', options: { endpoint: 'pod-ip' } }),
      broker.acquire({ engine: 'redis', worker: '2', options: { endpoint: 'port-forward' } }),
      broker.acquire({ engine: 'memcached', worker: '1', options: { endpoint: 'pod-ip' } }),
      broker.acquire({ engine: 'memcached', worker: '2', options: { endpoint: 'port-forward' } }),
    ]);
    expect(redisIp?.endpoint).toBe('pod-ip');
    expect(redisIp?.host).toMatch(/^10\.24\d\./); // the dev cluster instance's pod network (10.244/16, 10.245/16, ...)
    expect(redisPf?.endpoint).toBe('port-forward');
    expect(redisPf?.host).toBe('127.0.0.1');
    expect(mcIp?.host).toMatch(/^10\.24\d\./); // the dev cluster instance's pod network (10.244/16, 10.245/16, ...)
    expect(mcPf?.host).toBe('127.0.0.1');
    for (const lease of [redisIp, redisPf, mcIp, mcPf]) await expectAnswers(lease as CacheLease);
    // 'auto' on this host picks the Pod IP, since the bridge routes to pods.
    const auto = await broker.acquire({ engine: 'redis', worker: '3' });
    expect(auto.endpoint).toBe('pod-ip');
    // The same slot gets the same pod back.
    const again = await broker.acquire({ engine: 'redis', worker: '3' });
    expect(again.podName).toBe(auto.podName);
    expect(again.reused).toBe(true);
  });

  it('fails with IMAGE_PULL for a nonexistent image, well before the running timeout, and deletes the pod', async () => {
    // The running timeout is 10 s: failing with IMAGE_PULL (not TIMEOUT) proves the fail-fast path.
    const err = await rejection(
      broker.acquire({
        engine: 'redis',
        worker: 'badimage',
        options: { image: 'kubecache.invalid/no-such-image:1', timeouts: { podRunningMs: 10_000 } },
      }),
    );
    expect(err.code).toBe('IMAGE_PULL');
    expect(err.message).toContain('kubecache.invalid/no-such-image:1');
    expect(err.message).toMatch(/events:/);
    // The next step comes last, after the events it refers to.
    expect(err.message).toMatch(/\n {2}next: check the image name and tag .*KUBECACHE_REDIS_IMAGE/);
    expect(String(err.details.pod)).toMatch(/^kc-redis-badimage-/);
    const selector = `${LABEL_RUN}=${broker.runId},kubecache.dev/worker=badimage`;
    // Deleted with a grace period (not forced): terminating at once, gone soon after.
    expect(await podsOf(selector)).toEqual([]);
    for (let i = 0; i < 50 && (await allPodsOf(selector)).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await allPodsOf(selector)).toEqual([]);
  });

  it('fails with CRASHED and the last log lines when the engine exits', async () => {
    const err = await rejection(
      broker.acquire({
        engine: 'redis',
        worker: 'crash',
        options: { args: ['--no-such-directive', 'yes'], timeouts: { podRunningMs: 20_000 } },
      }),
    );
    expect(err.code).toBe('CRASHED');
    expect(String(err.details.logs)).toContain('no-such-directive');
    expect(err.message).toContain('\n  next: the last log lines above say why the server stopped');
  });

  it('fails with UNSCHEDULABLE when no node matches', async () => {
    const err = await rejection(
      broker.acquire({
        engine: 'memcached',
        worker: 'nosched',
        options: {
          nodeSelector: { 'kubecache.dev/nowhere': 'true' },
          timeouts: { podRunningMs: 10_000 },
        },
      }),
    );
    expect(err.code).toBe('UNSCHEDULABLE');
    expect(err.message).toMatch(/nodeSelector/);
  });

  it('gives a clear error when a pod is deleted from outside, and a fresh pod on the next acquire', async () => {
    const first = await broker.acquire({ engine: 'redis', worker: 'victim' });
    await adminCore().deleteNamespacedPod({
      name: first.podName,
      namespace: NS,
      gracePeriodSeconds: 0,
    });
    let status = broker.status(first.id);
    for (let i = 0; i < 100 && status.state === 'ready'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = broker.status(first.id);
    }
    expect(status.state).toBe('gone');
    expect(status.reason).toContain(`pod ${first.podName} was deleted from outside this run`);
    const second = await broker.acquire({ engine: 'redis', worker: 'victim' });
    expect(second.podName).not.toBe(first.podName);
    expect(second.reused).toBe(false);
    await expectAnswers(second);
  });

  it('leaves 0 pods after 100 create/delete cycles', async () => {
    const cycle = async (i: number): Promise<void> => {
      const lease = await broker.acquire({
        engine: i % 2 ? 'redis' : 'memcached',
        worker: `cycle${i}`,
      });
      await broker.release(lease.id, { destroy: true });
    };
    // Four at a time, like four workers.
    for (let i = 0; i < 100; i += 4) await Promise.all([0, 1, 2, 3].map((j) => cycle(i + j)));
    for (let i = 0; i < 100; i++) {
      const left = (await allPodsOf(runSelector(broker.runId))).filter((n) => n.includes('-cycle'));
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(
      (await allPodsOf(runSelector(broker.runId))).filter((n) => n.includes('-cycle')),
    ).toEqual([]);
  });

  it('serves workers over an HTTP API that refuses a missing or wrong token', async () => {
    const api = await startBrokerApi(broker);
    try {
      const status = (token?: string) =>
        fetch(
          `${api.url}/v1/health`,
          token ? { headers: { authorization: `Bearer ${token}` } } : {},
        ).then((r) => r.status);
      expect(await status()).toBe(401);
      expect(await status('not-the-token')).toBe(401);
      expect(await status(api.token)).toBe(200);
      const client = new BrokerClient(api.url, api.token);
      const lease = await client.acquire({ engine: 'memcached', worker: 'api' });
      expect(lease.podName).toMatch(/^kc-memcached-api-/);
      expect((await client.status(lease.id)).state).toBe('ready');
      const about = await client.describe(lease.id);
      expect(about.podName).toBe(lease.podName);
      expect(about.events.join('\n')).toMatch(/Started/);
      const bad = await new BrokerClient(api.url, 'wrong')
        .acquire({ engine: 'redis', worker: 'x' })
        .catch((e: unknown) => e);
      expect(isKubecacheError(bad, 'BROKER')).toBe(true);
    } finally {
      await api.close();
    }
  });

  it('makes caches children of the runner pod when it runs in the cluster', async () => {
    const core = adminCore();
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'ci-runner' },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'redis:7-alpine' }] },
      },
    });
    // KUBECACHE_POD_NAME is what a CI pod sets through the downward API.
    const inPod = await Broker.start({ ...quiet, env: env({ KUBECACHE_POD_NAME: 'ci-runner' }) });
    try {
      const lease = await inPod.acquire({ engine: 'redis', worker: '1' });
      const pod = await core.readNamespacedPod({ name: lease.podName, namespace: NS });
      const owner = pod.metadata?.ownerReferences?.[0];
      expect(owner?.kind).toBe('Pod');
      expect(owner?.name).toBe('ci-runner');
      // The job's pod goes away: Kubernetes' garbage collector removes the cache with it.
      await core.deleteNamespacedPod({ name: 'ci-runner', namespace: NS, gracePeriodSeconds: 0 });
      for (let i = 0; i < 300 && (await podsOf(runSelector(inPod.runId))).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await podsOf(runSelector(inPod.runId))).toEqual([]);
    } finally {
      await inPod.teardown();
    }
  });

  it('tears down to zero pods with its run label', async () => {
    const other = await Broker.start({ ...quiet, env: env() });
    await Promise.all([
      other.acquire({ engine: 'redis', worker: '1' }),
      other.acquire({ engine: 'memcached', worker: '1' }),
    ]);
    expect(await podsOf(runSelector(other.runId))).toHaveLength(2);
    const report = await other.teardown();
    expect(report.remaining).toEqual([]);
    // Teardown returns once its deletes went through: terminating at once,
    // gone when the kubelet has stopped them.
    await expectDeletedThenGone(podsBy(NS, runSelector(other.runId)));
  });
});

describe('identity and reaping', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  function startRunner(
    extraEnv: Record<string, string>,
  ): Promise<{ child: ChildProcess; runId: string; pods: string[] }> {
    const child = spawn(
      process.execPath,
      [join(here, 'fixtures/run-broker.mjs'), 'redis', 'memcached'],
      {
        env: { ...process.env, ...env(extraEnv) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n')[0];
        if (out.includes('\n') && line) {
          const parsed = JSON.parse(line) as { runId: string; leases: CacheLease[] };
          resolve({ child, runId: parsed.runId, pods: parsed.leases.map((l) => l.podName) });
        }
      });
      child.on('exit', (code) => reject(new Error(`runner exited early with ${code}`)));
    });
  }

  it('reaps the pods of a SIGKILLed run once its lease expired, and spares a live concurrent run', async () => {
    await ensureNamespace(NS);
    const short = { KUBECACHE_TIMEOUT_LEASE_MS: '4000', KUBECACHE_TIMEOUT_LEASE_RENEW_MS: '1000' };
    const [crashed, live] = await Promise.all([startRunner(short), startRunner(short)]);
    expect(crashed.runId).not.toBe(live.runId);
    crashed.child.kill('SIGKILL');
    // Before the lease ran out, a new run must leave the crashed run's pods alone.
    const early = await Broker.start({ ...quiet, env: env(short) });
    expect(await podsOf(runSelector(crashed.runId))).toHaveLength(2);
    await early.teardown();
    // The lease (4 s) plus the reaper's margin for its estimate of the API
    // server's clock, plus a second of slack.
    await new Promise((r) => setTimeout(r, 4000 + CLOCK_MARGIN_MS + 1000));
    const next = await Broker.start({ ...quiet, env: env(short) });
    try {
      for (let i = 0; i < 100 && (await podsOf(runSelector(crashed.runId))).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await podsOf(runSelector(crashed.runId))).toEqual([]);
      expect((await podsOf(runSelector(live.runId))).sort()).toEqual([...live.pods].sort());
    } finally {
      await next.teardown();
    }
    // SIGTERM makes the live run tear down its own pods before exiting.
    const exited = new Promise<NodeJS.Signals | null>((r) =>
      live.child.on('exit', (_code, signal) => r(signal)),
    );
    live.child.kill('SIGTERM');
    // Teardown first, then the signal's own default action ends the process.
    expect(await exited).toBe('SIGTERM');
    await expectDeletedThenGone(podsBy(NS, runSelector(live.runId)));
  });
});

describe('connection and permission errors', () => {
  let silent: Server;
  beforeAll(async () => {
    // Accepts connections and never answers: a hung API server.
    silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(() => {
    silent.close();
  });

  it('fails fast with UNREACHABLE naming the server URL when the API server does not answer', async () => {
    const port = (silent.address() as { port: number }).port;
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'kc-')), 'kubeconfig');
    const server = `https://127.0.0.1:${port}`;
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const err = await rejection(connectKube({ kubeconfig: file, apiConnectMs: 5000 }));
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toContain(server);
    // A kubeconfig file that does not exist: no cluster to talk to.
    const refused = await rejection(
      Broker.start({ ...quiet, env: { KUBECACHE_KUBECONFIG: file.replace('kubeconfig', 'nope') } }),
    );
    expect(refused.code).toBe('NO_CLUSTER');
  });

  it('gives FORBIDDEN naming the verb and resource for a restricted ServiceAccount', async () => {
    const file = await serviceAccountKubeconfig(NS, 'readonly', [
      { resources: ['pods', 'secrets'], verbs: ['get', 'list', 'watch'] },
    ]);
    const limited = await Broker.start({ ...quiet, env: { KUBECONFIG: file } });
    try {
      expect(limited.handle.namespace).toBe(NS);
      // A locked cache (the default) first creates its Secret, an open one its pod.
      const err = await rejection(limited.acquire({ engine: 'redis', worker: 'forbidden' }));
      expect(err.code).toBe('FORBIDDEN');
      expect(err.message).toContain('create');
      expect(err.message).toContain('secrets');
      expect(err.message).toContain(NS);
      const open = await rejection(
        limited.acquire({ engine: 'redis', worker: 'forbidden', options: { auth: false } }),
      );
      expect(open.code).toBe('FORBIDDEN');
      expect(open.message).toContain('create');
      expect(open.message).toContain('pods');
    } finally {
      await limited.teardown();
    }
    expect(await podsOf(`${managedSelector()},kubecache.dev/worker=forbidden`)).toEqual([]);
  });
});
