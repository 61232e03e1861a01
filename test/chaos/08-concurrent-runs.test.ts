import { Watch } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { closeRedisClient, createRedisClient } from '../../src/engines/redis/client.js';
import { LABEL_RUN } from '../../src/names.js';
import { adminKubeConfig, ensureNamespace } from '../support/cluster.js';
import { sleep, waitHealthy } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  CHAOS_TIMEOUTS,
  chaosOptions,
  deleteChaosNamespace,
  login,
  spawnRun,
  startBroker,
  waitNothingLeft,
  within,
} from './support/runs.js';

// Scenario 8: three runs share one namespace; one is SIGKILLed. After its
// lease expires another run starts (and reaps). The two survivors must keep
// working, and none of their pods may ever be deleted by another run.
const NS = 'kc-chaos-8';

describe.sequential('scenario 8: three concurrent runs in one namespace, one SIGKILLed', () => {
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  it('the other two pass; none of their pods is deleted by another run', async () => {
    await waitHealthy();
    await ensureNamespace(NS);
    // Every pod deletion in the namespace, seen as it happens.
    const deleted: { pod: string; run: string; at: number }[] = [];
    const watch = await new Watch(adminKubeConfig()).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: LABEL_RUN },
      (
        type: string,
        obj: {
          metadata?: {
            name?: string;
            labels?: Record<string, string>;
            deletionTimestamp?: unknown;
          };
        },
      ) => {
        if (type === 'DELETED' || (type === 'MODIFIED' && obj.metadata?.deletionTimestamp)) {
          const pod = obj.metadata?.name ?? '';
          if (!deleted.some((d) => d.pod === pod))
            deleted.push({ pod, run: obj.metadata?.labels?.[LABEL_RUN] ?? '', at: Date.now() });
        }
      },
      () => {},
    );
    const runs = [0, 1, 2].map((i) =>
      spawnRun(chaosOptions(NS, { endpoint: i === 1 ? 'port-forward' : 'pod-ip' }), [
        'redis',
        'memcached',
      ]),
    );
    let survivorsOk = 0;
    let survivorPods: string[] = [];
    let reaped = '';
    let signalledAt = Number.POSITIVE_INFINITY;
    try {
      const ready = await Promise.all(runs.map((r) => r.ready));
      survivorPods = ready.slice(0, 2).flatMap((r) => r.leases.map((l) => l.podName));
      (runs[2] as (typeof runs)[number]).child.kill('SIGKILL');
      // Past the killed run's lease, the survivors renewing theirs all along,
      // then a fourth run starts and reaps what has expired.
      await sleep(CHAOS_TIMEOUTS.leaseMs + 3000);
      const fourth = await startBroker(NS);
      reaped = fourth.lines.find((l) => l.includes('reaped')) ?? 'nothing reaped';
      await fourth.broker.acquire({ engine: 'redis', worker: '1' });
      await fourth.broker.teardown();
      // The survivors still work: their redis answers (pod IP, or the survivor's own port-forward).
      for (const r of ready.slice(0, 2)) {
        const lease = r.leases[0];
        if (!lease) continue;
        const client = await createRedisClient(
          { host: lease.host, port: lease.port },
          login(lease.auth),
        );
        try {
          await client.connect();
          if ((await client.ping()) === 'PONG') survivorsOk += 1;
        } catch {
          // counted as not ok
        } finally {
          await closeRedisClient(client);
        }
      }
    } finally {
      signalledAt = Date.now();
      for (const r of runs.slice(0, 2)) r.child.kill('SIGTERM');
      const exits = await Promise.all(runs.map((r) => within(r.exited, 60_000)));
      for (const [i, e] of exits.entries()) if (e.timedOut) runs[i]?.child.kill('SIGKILL');
      watch.abort();
    }
    // A survivor's pods may only go in its own teardown (the SIGTERM above);
    // any earlier deletion was another run's doing.
    const stolen = deleted.filter((d) => survivorPods.includes(d.pod) && d.at < signalledAt);
    const left = await waitNothingLeft(NS, 60_000);
    const pass = survivorsOk === 2 && stolen.length === 0 && left.ms !== undefined;
    record({
      n: 8,
      scenario: 'Three concurrent runs in one namespace, one SIGKILLed',
      endpoint: 'pod-ip, port-forward, pod-ip',
      done: `3 runners (redis + memcached each) in one namespace; one SIGKILLed; a 4th run started after its lease (${CHAOS_TIMEOUTS.leaseMs / 1000} s) expired`,
      held: `${survivorsOk}/2 survivors answered; survivor pods deleted by another run: ${stolen.length}; ${left.ms === undefined ? `LEFT ${left.pods.length} pods` : 'nothing left after teardown'}`,
      figures: `${reaped.replace('[kubecache] ', '').slice(0, 110)}; ${deleted.length} pod deletions watched`,
      pass,
    });
    expect(stolen).toEqual([]);
    expect(survivorsOk).toBe(2);
    // As the table's verdict (waitNothingLeft): no pod and no Secret.
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });
});
