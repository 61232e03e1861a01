import { afterAll, describe, expect, it } from 'vitest';
import type { CacheLease } from '../../src/broker/types.js';
import { component, sleep, waitHealthy, withApiserverFault } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  cacheAnswers,
  deleteChaosNamespace,
  podNames,
  startBroker,
  waitNothingLeft,
  within,
} from './support/runs.js';

// Scenario 15: the API server is SIGKILLed (connections refused) or stalled
// by SIGSTOP (requests hang) while the pods that global setup prestarts are
// being created, and comes back 10 s later; the workers ask for their caches
// inside the outage. With the default timeouts (API calls
// retried for 30 s) every worker must get a working cache once the API
// server is back: a prestart that lost its answer is adopted or replaced,
// never handed out half-made; the pods no worker took are deleted at
// teardown, and nothing is left.
const NS = 'kc-chaos-15';
const DOWN_MS = 10_000;
const WORKERS = ['1', '2'];
// Acquire budget the scenario allows: the outage, the API server's start,
// the kubelet's watch coming back, and the pod starts after it.
const ACQUIRE_LIMIT_MS = 90_000;

const FAULTS = {
  kill: { down: 'kill', up: 'start', label: 'SIGKILLed', back: 'started' },
  stop: { down: 'stop', up: 'cont', label: 'stalled (SIGSTOP)', back: 'SIGCONT' },
} as const;

describe.sequential('scenario 15: API server down while prestarted pods start', () => {
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  for (const fault of ['kill', 'stop'] as const) {
    const f = FAULTS[fault];
    it(`${fault}: every worker gets a working cache after the outage; nothing is left`, async () => {
      await waitHealthy();
      const { broker, lines } = await startBroker(NS);
      const runId = broker.runId;
      let killedAt = 0;
      let answeringAt = 0;
      let podsAtKill = 0;
      const settled: { engine: string; r: Awaited<ReturnType<typeof within<CacheLease>>> }[] = [];
      const working: boolean[] = [];
      let teardown: Awaited<ReturnType<typeof within>> = { timedOut: true, ms: 0 };
      try {
        broker.prestart([
          { shape: { engine: 'redis' }, count: WORKERS.length },
          { shape: { engine: 'memcached' }, count: WORKERS.length },
        ]);
        // The moment: the first prestarted pod exists, the others are on their way.
        for (let i = 0; i < 400 && podsAtKill === 0; i++) {
          podsAtKill = (await podNames(NS, runId).catch(() => [])).length;
          if (podsAtKill === 0) await sleep(25);
        }
        await withApiserverFault(async () => {
          await component(f.down);
          killedAt = Date.now();
          await sleep(1000);
          // The workers ask inside the outage, each for both its caches at once.
          const asks = WORKERS.flatMap((worker) =>
            (['redis', 'memcached'] as const).map((engine) => ({
              engine,
              p: within(broker.acquire({ engine, worker }), ACQUIRE_LIMIT_MS),
            })),
          );
          await sleep(Math.max(0, DOWN_MS - (Date.now() - killedAt)));
          await component(f.up);
          answeringAt = Date.now();
          for (const a of asks) settled.push({ engine: a.engine, r: await a.p });
        });
        for (const { r } of settled) {
          working.push(r.value ? await cacheAnswers(r.value).catch(() => false) : false);
        }
      } finally {
        teardown = await within(broker.teardown(), 120_000);
      }
      const left = await waitNothingLeft(NS, 120_000, runId);
      const got = settled.filter((s) => s.r.value).length;
      const failures = settled
        .filter((s) => !s.r.value)
        .map((s) =>
          s.r.timedOut
            ? `${s.engine}: hung`
            : `${s.engine}: ${String((s.r.error as Error)?.message)}`,
        );
      const slowest = Math.max(...settled.map((s) => s.r.ms));
      const adoptedLine = lines.find((l) => l.includes('prestart:')) ?? '(no prestart line)';
      const distinctPods = new Set(settled.map((s) => s.r.value?.podName).filter(Boolean)).size;
      const pass =
        got === settled.length &&
        working.every(Boolean) &&
        distinctPods === settled.length &&
        !teardown.timedOut &&
        left.pods.length === 0 &&
        left.secrets.length === 0;
      record({
        n: 15,
        scenario: 'API server down 10 s while prestarted pods start',
        endpoint: 'pod-ip',
        done: `prestart of ${WORKERS.length} redis + ${WORKERS.length} memcached; API server ${f.label} when ${podsAtKill} of its pods existed, ${f.back} ${DOWN_MS / 1000} s later (answering ${((answeringAt - killedAt) / 1000).toFixed(1)} s after it went down); ${settled.length} acquires (${WORKERS.length} workers x redis, memcached) 1 s into the outage; default timeouts`,
        held: `${got} of ${settled.length} acquires got a cache, ${working.filter(Boolean).length} answered, ${distinctPods} distinct pods${failures.length ? `; failed: ${failures.join('; ').slice(0, 200)}` : ''}; pods and Secrets left after teardown: ${left.pods.length} and ${left.secrets.length}`,
        figures: `slowest acquire ${(slowest / 1000).toFixed(1)} s (${((killedAt + slowest + 1000 - answeringAt) / 1000).toFixed(1)} s after the API server answered); teardown ${(teardown.ms / 1000).toFixed(1)} s; ${adoptedLine.replace('[kubecache] ', '')}`,
        pass,
      });
      expect(failures).toEqual([]);
      expect(working.every(Boolean), 'a cache handed out did not answer').toBe(true);
      expect(distinctPods, 'two acquires got the same pod').toBe(settled.length);
      expect(teardown.timedOut, 'teardown hung').toBe(false);
      expect(left).toMatchObject({ pods: [], secrets: [] });
    });
  }
});
