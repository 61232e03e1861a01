import { afterAll, describe, expect, it } from 'vitest';
import { adminCore } from '../support/cluster.js';
import { sleep, waitHealthy } from './support/control-plane.js';
import { record } from './support/report.js';
import { deleteChaosNamespace, startBroker, waitNothingLeft } from './support/runs.js';

// Scenario 5: the run's pod watch sits idle for longer than client-node's
// idle timeout (30 s, and the old watch gave up after three of them), then a
// pod event comes: the broker must still see it (here: its pod deleted from
// outside, which must turn the lease "gone").
const NS = 'kc-chaos-5';
const IDLE_MS = 100_000;

describe.sequential('scenario 5: pod watch idle past client-node idle timeout, then an event', () => {
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  it('the event is still seen', async () => {
    await waitHealthy();
    const { broker } = await startBroker(NS);
    let seenMs: number | undefined;
    try {
      const lease = await broker.acquire({ engine: 'redis', worker: '1' });
      await sleep(IDLE_MS);
      const t0 = Date.now();
      await adminCore().deleteNamespacedPod({ name: lease.podName, namespace: NS });
      for (let i = 0; i < 120; i++) {
        if (broker.status(lease.id).state === 'gone') {
          seenMs = Date.now() - t0;
          break;
        }
        await sleep(250);
      }
    } finally {
      await broker.teardown().catch(() => undefined);
    }
    const left = await waitNothingLeft(NS, 30_000, broker.runId);
    const pass = seenMs !== undefined && left.ms !== undefined;
    record({
      n: 5,
      scenario: 'Pod watch idle longer than the client idle timeout, then an event',
      endpoint: 'n/a',
      done: `run with one redis, no traffic and no pod events for ${IDLE_MS / 1000} s, then its pod deleted from outside`,
      held:
        seenMs === undefined
          ? 'deletion NOT seen within 30 s'
          : 'deletion seen: lease turned "gone"',
      figures: seenMs === undefined ? '-' : `seen ${(seenMs / 1000).toFixed(1)} s after the delete`,
      pass,
    });
    expect(seenMs, 'the run never saw its pod deleted').toBeDefined();
    // As the table's verdict: the run's teardown left nothing.
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });
});
