import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { runSelector } from '../../src/names.js';
import {
  adminCore,
  adminKubeconfigPath,
  deleteNamespace,
  ensureNamespace,
} from '../support/cluster.js';
import { rejection } from '../support/errors.js';

// Claim 10: shared CI namespaces have a ResourceQuota and a LimitRange.
const QUOTA_NS = 'kc-ft-quota';
const LIMIT_NS = 'kc-ft-limits';
const quiet = { progress: () => {} };

function env(namespace: string): NodeJS.ProcessEnv {
  return { KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: namespace };
}

describe('a namespace with a ResourceQuota of 3 pods', () => {
  beforeAll(async () => {
    await ensureNamespace(QUOTA_NS);
    await adminCore().createNamespacedResourceQuota({
      namespace: QUOTA_NS,
      body: { metadata: { name: 'pods-3' }, spec: { hard: { pods: '3' } } },
    });
  });
  afterAll(async () => {
    await deleteNamespace(QUOTA_NS);
  });

  it('fails the fourth cache at once with QUOTA_EXCEEDED and the arithmetic, not an RBAC hint', async () => {
    const broker = await Broker.start({ ...quiet, env: env(QUOTA_NS) });
    try {
      const leases = await Promise.all(
        ['1', '2', '3'].map((worker) => broker.acquire({ engine: 'memcached', worker })),
      );
      expect(leases).toHaveLength(3);
      const err = await rejection(broker.acquire({ engine: 'memcached', worker: '4' }));
      expect(err.code).toBe('QUOTA_EXCEEDED');
      expect(err.message).toContain('exceeded quota');
      expect(err.message).toContain('already holds 3 cache pod(s)');
      expect(err.message).toContain('workers × caches');
      expect(err.message).not.toContain('Role');
      // At once: this run fills the quota itself, so it did not wait for room.
      expect(err.message).not.toContain('Waited');
    } finally {
      await broker.teardown();
    }
  });

  it('waits for room that another run frees within its timeout', async () => {
    const other = await Broker.start({ ...quiet, env: env(QUOTA_NS) });
    const broker = await Broker.start({ ...quiet, env: env(QUOTA_NS) });
    try {
      await Promise.all(
        ['1', '2', '3'].map((worker) => other.acquire({ engine: 'memcached', worker })),
      );
      const waiting = broker.acquire({ engine: 'memcached', worker: 'waits' });
      let settled = false;
      waiting.then(
        () => {
          settled = true;
        },
        () => {
          settled = true;
        },
      );
      const runPods = async () =>
        (
          await adminCore().listNamespacedPod({
            namespace: QUOTA_NS,
            labelSelector: runSelector(broker.runId),
          })
        ).items.map((p) => p.metadata?.name);
      await new Promise((r) => setTimeout(r, 2_000));
      // It waited: while the quota is full it is pending and has no pod, so
      // an acquire that never met the quota would fail here.
      expect(settled).toBe(false);
      expect(await runPods()).toEqual([]);
      await other.teardown();
      const lease = await waiting;
      expect(lease.podName).toContain('waits');
      expect(await runPods()).toContain(lease.podName);
    } finally {
      await other.teardown();
      await broker.teardown();
    }
  });
});

describe('a namespace with a LimitRange max of 128Mi / 200m', () => {
  beforeAll(async () => {
    await ensureNamespace(LIMIT_NS);
    await adminCore().createNamespacedLimitRange({
      namespace: LIMIT_NS,
      body: {
        metadata: { name: 'small' },
        spec: { limits: [{ type: 'Container', max: { memory: '128Mi', cpu: '200m' } }] },
      },
    });
  });
  afterAll(async () => {
    await deleteNamespace(LIMIT_NS);
  });

  it("runs caches with kubecache's defaults fitted into the LimitRange", async () => {
    const lines: string[] = [];
    const broker = await Broker.start({ progress: (l) => lines.push(l), env: env(LIMIT_NS) });
    try {
      const lease = await broker.acquire({ engine: 'redis', worker: '1' });
      const pod = await adminCore().readNamespacedPod({ name: lease.podName, namespace: LIMIT_NS });
      expect(pod.spec?.containers[0]?.resources?.limits).toEqual({ cpu: '200m', memory: '128Mi' });
      expect(lines.join('\n')).toContain('fitted to the LimitRange');
    } finally {
      await broker.teardown();
    }
  });

  it('never changes a limit the user set, and names the LimitRange when it is refused', async () => {
    const broker = await Broker.start({ ...quiet, env: env(LIMIT_NS) });
    try {
      const err = await rejection(
        broker.acquire({
          engine: 'redis',
          worker: '2',
          options: { resources: { limits: { memory: '256Mi' } } },
        }),
      );
      expect(err.code).toBe('LIMIT_RANGE');
      expect(err.message).toContain('128Mi');
      expect(err.message).toContain(`kubectl describe limitrange -n ${LIMIT_NS}`);
      expect(err.message).not.toContain('Role');
    } finally {
      await broker.teardown();
    }
  });
});
