import { afterAll, describe, expect, it } from 'vitest';
import { ensureNamespace } from '../support/cluster.js';
import { sleep, waitHealthy } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  chaosOptions,
  deleteChaosNamespace,
  podNames,
  secretNames,
  spawnRun,
  waitNothingLeft,
  within,
} from './support/runs.js';

// Scenario 6: Ctrl-C (SIGINT) while the run's caches are still starting.
// Within 5 s of the runner's exit no pod and no Secret of it may remain.
const LIMIT_MS = 5000;

describe.sequential('scenario 6: SIGINT during startup', () => {
  for (const endpoint of ['pod-ip', 'port-forward'] as const) {
    const NS = `kc-chaos-6-${endpoint}`;
    afterAll(async () => {
      await deleteChaosNamespace(NS);
    });

    it(`${endpoint}: 0 pods and 0 Secrets within 5 s of exit`, async () => {
      await waitHealthy();
      await ensureNamespace(NS);
      // A seeded redis makes a Secret (the one-time download token) as well.
      const run = spawnRun(chaosOptions(NS, { endpoint }), ['redis-rdb', 'memcached', 'redis']);
      // SIGINT as soon as the first pod exists: its cache is still starting.
      let sawPod = false;
      for (let i = 0; i < 300 && !sawPod; i++) {
        sawPod = (await podNames(NS).catch(() => [])).length > 0;
        if (!sawPod) await sleep(100);
      }
      const podsAtSignal = await podNames(NS);
      const secretsAtSignal = await secretNames(NS);
      run.child.kill('SIGINT');
      const exit = await within(run.exited, 60_000);
      const left = await waitNothingLeft(NS, LIMIT_MS);
      if (exit.timedOut) run.child.kill('SIGKILL');
      const pass = !exit.timedOut && left.ms !== undefined;
      record({
        n: 6,
        scenario: 'SIGINT during startup',
        endpoint,
        done: `runner acquiring redis (RDB over HTTP), memcached, redis; SIGINT once its first pod existed (${podsAtSignal.length} pod(s), ${secretsAtSignal.length} Secret(s) at that moment)`,
        held: `runner ${exit.timedOut ? 'did NOT exit' : `exited (${exit.value?.code ?? exit.value?.signal})`}; ${left.ms === undefined ? `left after ${LIMIT_MS / 1000} s: ${left.pods.length} pod(s), ${left.secrets.length} Secret(s)` : '0 pods and 0 Secrets'}`,
        figures: `exit ${(exit.ms / 1000).toFixed(1)} s after SIGINT; nothing left ${left.ms === undefined ? '-' : `${(left.ms / 1000).toFixed(1)} s`} after exit`,
        pass,
      });
      expect(sawPod, 'no pod appeared within 30 s').toBe(true);
      expect(exit.timedOut, `runner did not exit: ${run.stderr()}`).toBe(false);
      expect(left, run.stderr()).toMatchObject({ pods: [], secrets: [] });
    });
  }
});
