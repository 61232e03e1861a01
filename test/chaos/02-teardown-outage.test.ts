import { afterAll, describe, expect, it } from 'vitest';
import { retryUntil } from '../../src/deadline.js';
import { component, sleep, waitHealthy, withApiserverFault } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  deleteChaosNamespace,
  podNames,
  startBroker,
  waitNothingLeft,
  within,
} from './support/runs.js';

// Scenario 2: the API server goes down the moment the tests end and comes
// back 20 s later. Teardown must finish its job within its budget (every
// pod's delete through once the API server is back), or name each pod it
// could not delete with the command that removes it. Then the cluster's
// part: the kubelet stops and removes the deleted pods, which after an API
// server restart can take it a minute (its watch comes back slowly).
const NS = 'kc-chaos-2';
const DOWN_MS = 20_000;
// Budget of this run's teardown: long enough to outlast the outage and the
// API server's start.
const DELETE_MS = 90_000;
// How long the kubelet may take to remove the deleted pods.
const GONE_MS = 150_000;

describe.sequential('scenario 2: API server down for 20 s during teardown', () => {
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  for (const endpoint of ['pod-ip', 'port-forward'] as const) {
    it(`${endpoint}: teardown leaves nothing, or names what it left`, async () => {
      await waitHealthy();
      const { broker, lines } = await startBroker(NS, { timeouts: { deleteMs: DELETE_MS } });
      const runId = broker.runId;
      const pods = [
        (await broker.acquire({ engine: 'redis', worker: '1', options: { endpoint } })).podName,
        (await broker.acquire({ engine: 'memcached', worker: '1', options: { endpoint } })).podName,
      ];
      let answeringAt = 0;
      const t0 = Date.now();
      const settled = await withApiserverFault(async () => {
        await component('kill');
        const teardown = within(broker.teardown(), DELETE_MS + 30_000);
        await sleep(DOWN_MS);
        await component('start');
        answeringAt = Date.now();
        return teardown;
      });
      // Pods whose delete did not go through: none, or each one named.
      // Listed while the API server may still be settling after its restart.
      const undeleted = await retryUntil(() => podNames(NS, runId, { live: true }), {
        budgetMs: 10_000,
        delayMs: () => 250,
      });
      const named = undeleted.every((p) =>
        lines.some((l) => l.includes(p) && /kubectl .*delete/.test(l)),
      );
      const w0 = Date.now();
      const left = await waitNothingLeft(NS, undeleted.length === 0 ? GONE_MS : 20_000, runId);
      const teardownMs = settled.ms;
      const error = settled.error ? (settled.error as Error).message : undefined;
      const pass = !settled.timedOut && (undeleted.length === 0 ? left.ms !== undefined : named);
      record({
        n: 2,
        scenario: 'API server down 20 s during teardown',
        endpoint,
        done: `2 pods (redis, memcached); API server SIGKILLed as teardown began, started after ${DOWN_MS / 1000} s (answering ${((answeringAt - t0) / 1000).toFixed(1)} s after the kill); delete budget ${DELETE_MS / 1000} s`,
        held: `${undeleted.length} of ${pods.length} pods not deleted${undeleted.length ? (named ? ', each named with its delete command' : ', NOT named') : ''}; ${left.pods.length ? `${left.pods.length} still there after ${(undeleted.length === 0 ? GONE_MS : 20_000) / 1000} s` : 'then all gone'}${settled.timedOut ? '; teardown hung' : ''}${error ? `; teardown failed: ${error.slice(0, 140)}` : ''}`,
        figures: `teardown returned after ${(teardownMs / 1000).toFixed(1)} s; pods gone ${left.ms === undefined ? 'never' : `${((w0 + left.ms - t0) / 1000).toFixed(1)} s`} after the kill`,
        pass,
      });
      expect(settled.timedOut, 'teardown hung').toBe(false);
      expect(
        undeleted.length === 0 || named,
        `not deleted ${undeleted.join(', ')}; ${lines.join(' / ')}`,
      ).toBe(true);
      // As the table's verdict: once every delete went through, no pod and no Secret is left.
      if (undeleted.length === 0)
        expect(left, 'deleted pods never went').toMatchObject({ pods: [], secrets: [] });
      // The outage, the teardown budget and the kubelet's removal, one after the other.
    }, 330_000);
  }
});
