import { afterAll, describe, expect, it } from 'vitest';
import { ensureNamespace } from '../support/cluster.js';
import { sleep, waitHealthy } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  CHAOS_TIMEOUTS,
  chaosOptions,
  deleteChaosNamespace,
  podNames,
  prng,
  secretNames,
  spawnRun,
  startBroker,
  waitNothingLeft,
  within,
} from './support/runs.js';

// Scenario 7: 20 runners SIGKILLed at random moments (seeded, so every run of
// the suite kills at the same moments), then one clean run. Once the leases
// have expired, no kubecache pod or Secret may remain in the namespace.
const NS = 'kc-chaos-7';
const RUNS = 20;
const AT_ONCE = 10;
// Kill moments, counted from the broker's start (when it begins to create
// pods): while creating, starting, seeding, and after its caches are ready.
const MAX_KILL_AT_MS = 6000;

describe.sequential('scenario 7: 20 runs SIGKILLed at random moments, then a clean run', () => {
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  it('0 kubecache pods and Secrets remain once leases have expired', async () => {
    await waitHealthy();
    await ensureNamespace(NS);
    const random = prng(9);
    let readyBeforeKill = 0;
    let killedAt = 0;
    for (let batch = 0; batch < RUNS / AT_ONCE; batch++) {
      await Promise.all(
        Array.from({ length: AT_ONCE }, async () => {
          const run = spawnRun(chaosOptions(NS), ['redis-rdb', 'memcached']);
          const delay = Math.floor(random() * MAX_KILL_AT_MS);
          await within(run.started, 60_000);
          await sleep(delay);
          if ((await within(run.ready, 0)).value) readyBeforeKill += 1;
          run.child.kill('SIGKILL');
          await within(run.exited, 10_000);
        }),
      );
      killedAt = Date.now();
    }
    const podsAfterKills = (await podNames(NS)).length;
    const secretsAfterKills = (await secretNames(NS)).length;
    // Every lease of a killed run has expired once leaseMs has passed since the last kill.
    await sleep(Math.max(0, CHAOS_TIMEOUTS.leaseMs + 2000 - (Date.now() - killedAt)));
    const { broker, lines } = await startBroker(NS);
    const clean = await within(
      (async () => {
        const lease = await broker.acquire({ engine: 'redis', worker: '1' });
        return lease.podName;
      })(),
      60_000,
    );
    await broker.teardown();
    const left = await waitNothingLeft(NS, 60_000);
    const reaped = lines.find((l) => l.includes('reaped')) ?? 'nothing reaped';
    const pass = clean.value !== undefined && left.ms !== undefined;
    record({
      n: 7,
      scenario: '20 runs SIGKILLed at random moments, then a clean run',
      endpoint: 'auto',
      done: `${RUNS} runners (redis with an RDB over HTTP + memcached; ${AT_ONCE} at a time) SIGKILLed 0-${MAX_KILL_AT_MS / 1000} s after their broker started (${readyBeforeKill} had their caches ready); leases ${CHAOS_TIMEOUTS.leaseMs / 1000} s; one clean run after they expired`,
      held: `${left.ms === undefined ? `LEFT ${left.pods.length} pod(s), ${left.secrets.length} Secret(s)` : '0 pods, 0 Secrets'}; clean run ${clean.value ? 'passed' : `FAILED: ${String((clean.error as Error | undefined)?.message ?? 'hung').slice(0, 120)}`}`,
      figures: `${podsAfterKills} pods and ${secretsAfterKills} Secrets left by the killed runs; ${reaped.replace('[kubecache] ', '').slice(0, 100)}; empty ${left.ms === undefined ? '-' : `${(left.ms / 1000).toFixed(1)} s`} after the clean run's teardown`,
      pass,
    });
    // A clean run that hung has no error either: it must have got its pod.
    expect(clean.timedOut, 'the clean run hung').toBe(false);
    expect(clean.error).toBeUndefined();
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });
});
