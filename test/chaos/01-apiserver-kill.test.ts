import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeMemcachedClient, createMemcachedClient } from '../../src/engines/memcached/client.js';
import { closeRedisClient, createRedisClient } from '../../src/engines/redis/client.js';
import type { EngineName } from '../../src/engines/types.js';
import { component, sleep, waitHealthy, withApiserverFault } from './support/control-plane.js';
import { record } from './support/report.js';
import { deleteChaosNamespace, login, startBroker, waitNothingLeft } from './support/runs.js';
import { startTraffic } from './support/traffic.js';

// Scenario 1: the API server is SIGKILLed mid-test and started again 5 s
// later. Traffic must resume within 10 s of the API server answering, no
// operation may hang, and teardown must leave no pod.
const NS = 'kc-chaos-1';
const RESUME_LIMIT_MS = 10_000;
// An operation pending this long counts as hung (the tunnel's healing window
// is 30 s; a test's own timeout is longer still).
const HUNG_MS = 60_000;

type Variant = { engine: EngineName; endpoint: 'pod-ip' | 'port-forward' };
const variants: Variant[] = [
  { engine: 'redis', endpoint: 'pod-ip' },
  { engine: 'redis', endpoint: 'port-forward' },
  { engine: 'memcached', endpoint: 'port-forward' },
];

describe.sequential('scenario 1: API server SIGKILLed mid-test, back after 5 s', () => {
  beforeAll(async () => {
    await waitHealthy();
  });
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  for (const v of variants) {
    it(`${v.engine} over ${v.endpoint}: traffic resumes, nothing hangs, nothing is left`, async () => {
      const health = await waitHealthy();
      const { broker } = await startBroker(NS);
      let row = { done: '', held: '', figures: '', pass: false };
      let answeringAt = 0;
      let killedAt = 0;
      let runId = broker.runId;
      try {
        runId = broker.runId;
        const lease = await broker.acquire({
          engine: v.engine,
          worker: '1',
          options: { endpoint: v.endpoint },
        });
        const endpoint = { host: lease.host, port: lease.port };
        const redis =
          v.engine === 'redis' ? await createRedisClient(endpoint, login(lease.auth)) : undefined;
        const memcached = v.engine === 'memcached' ? createMemcachedClient(endpoint) : undefined;
        await redis?.connect();
        const traffic = startTraffic(async (i) => {
          if (redis) await redis.set(`k${i % 100}`, String(i));
          else await memcached?.set(`k${i % 100}`, String(i), { expires: 0 });
        }, HUNG_MS);
        try {
          await sleep(2000);
          await withApiserverFault(async () => {
            await component('kill');
            killedAt = Date.now();
            await sleep(5000);
            await component('start');
            answeringAt = Date.now();
          });
          // Give traffic up to 3x the limit to show whether it resumes at all.
          for (let i = 0; i < 120 && !traffic.firstOkAfter(answeringAt); i++) await sleep(250);
          await sleep(1000);
        } finally {
          const stats = await traffic.stop();
          if (redis) await closeRedisClient(redis);
          if (memcached) await closeMemcachedClient(memcached);
          const firstOk = stats.firstOkAfter(answeringAt);
          const resumeMs = firstOk === undefined ? undefined : Math.max(0, firstOk - answeringAt);
          row = {
            done: `${v.engine} traffic (one op at a time); API server SIGKILLed, started 5 s later (answering ${((answeringAt - killedAt) / 1000).toFixed(1)} s after the kill)`,
            held: `traffic resumed ${resumeMs === undefined ? 'never' : `${(resumeMs / 1000).toFixed(1)} s after the API server answered`}; ${stats.hung} hung ops`,
            figures: `${stats.ok} ok, ${stats.errors} errors, slowest op ${(stats.maxLatencyMs / 1000).toFixed(1)} s, control plane healthy after ${(health.readyMs + health.probePodMs + health.controllersMs) / 1000} s${stats.lastError ? `; last error: ${stats.lastError.slice(0, 120)}` : ''}`,
            pass: resumeMs !== undefined && resumeMs <= RESUME_LIMIT_MS && stats.hung === 0,
          };
        }
      } finally {
        const teardown = await broker.teardown().catch((e: Error) => e);
        // After an API server restart the kubelet may take a while to see
        // deletions (its watches back off); teardown's budget plus that.
        const left = await waitNothingLeft(NS, 90_000, runId);
        const leftOk = left.pods.length === 0 && left.secrets.length === 0;
        row.held += `; pods and Secrets left after teardown: ${left.pods.length} and ${left.secrets.length}`;
        if (teardown instanceof Error)
          row.held += ` (teardown failed: ${teardown.message.slice(0, 120)})`;
        row.pass &&= leftOk;
        record({
          n: 1,
          scenario: 'API server SIGKILLed mid-test, back after 5 s',
          endpoint: v.endpoint,
          ...row,
        });
      }
      expect(row.pass, `${row.held} | ${row.figures}`).toBe(true);
    });
  }
});
