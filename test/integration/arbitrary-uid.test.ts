import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectKube } from '../../src/kube/client.js';
import { execInPod } from '../../src/kube/exec.js';
import type { BrokerClient } from '../../src/worker/broker-client.js';
import { openCache } from '../../src/worker/open-cache.js';
import { brokerInNamespace } from '../support/broker-in-namespace.js';
import { adminCore, adminKubeconfigPath } from '../support/cluster.js';

// OpenShift-style arbitrary UIDs: the cache runs as a random high UID in
// group 0 (KUBECACHE_UID), and seeded redis and memcached caches work.

const NS = 'kc-arbitrary-uid';
const UID = 1000680000;
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '../fixtures');

describe(`caches under UID ${UID}, group 0`, () => {
  const namespaceBroker = brokerInNamespace(NS, { KUBECACHE_UID: String(UID) });
  let client: BrokerClient;

  beforeAll(async () => {
    ({ client } = await namespaceBroker.start());
  });

  afterAll(() => namespaceBroker.stop());

  /** `id` inside the cache container: who the server really runs as. */
  async function idIn(pod: string, container: string): Promise<string> {
    const handle = await connectKube({
      kubeconfig: adminKubeconfigPath(),
      namespace: NS,
      apiConnectMs: 5000,
    });
    const r = await execInPod(handle, { pod, container, command: ['id'], timeoutMs: 20_000 });
    return r.stdout.trim();
  }

  for (const transport of ['http', 'exec'] as const) {
    it(`seeds redis from an RDB (${transport}), resets and snapshots`, async () => {
      const cache = await openCache('redis', {
        broker: client,
        worker: `redis-${transport}`,
        seed: { kind: 'rdb', path: join(fixtures, 'basic.rdb'), transport },
      });
      const pod = await adminCore().readNamespacedPod({ name: cache.podName, namespace: NS });
      expect(pod.spec?.securityContext).toMatchObject({
        runAsUser: UID,
        runAsGroup: 0,
        fsGroup: 0,
      });
      expect(await idIn(cache.podName, 'redis')).toMatch(/^uid=1000680000 gid=0/);
      expect(await cache.client.hget('user:4', 'name')).toBe('margaret');
      await cache.client.del('user:4');
      await cache.reset();
      expect(await cache.client.hget('user:4', 'name')).toBe('margaret');
      const snap = await cache.snapshot(join(mkdtempSync(join(tmpdir(), 'kc-uid-')), 'snap.rdb'));
      expect(snap.bytes).toBeGreaterThan(100);
      await cache.close();
    });
  }

  it('seeds memcached from JSON', async () => {
    const cache = await openCache('memcached', {
      broker: client,
      worker: 'memcached',
      seed: { kind: 'json', path: join(fixtures, 'memcached.json') },
    });
    const pod = await adminCore().readNamespacedPod({ name: cache.podName, namespace: NS });
    expect(pod.spec?.securityContext).toMatchObject({ runAsUser: UID, runAsGroup: 0 });
    expect(await idIn(cache.podName, 'memcached')).toMatch(/^uid=1000680000 gid=0/);
    expect((await cache.client.get('session:1')).value?.toString()).toBe('user=ada');
    await cache.client.set('session:1', 'changed', {});
    await cache.reset();
    expect((await cache.client.get('session:1')).value?.toString()).toBe('user=ada');
    await cache.close();
  });
});
