import { afterAll, describe, expect, it } from 'vitest';
import type { CacheLease } from '../../src/broker/types.js';
import { closeRedisClient, createRedisClient } from '../../src/engines/redis/client.js';
import { component, sleep, waitHealthy } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  cacheAnswers,
  deleteChaosNamespace,
  login,
  startBroker,
  waitNothingLeft,
  within,
} from './support/runs.js';
import { startTraffic } from './support/traffic.js';

// Scenario 17: the API server keeps running but its storage stops: etcd is
// stalled (SIGSTOP) for 10 s. Requests are accepted and then hang or fail
// with server errors (5xx), the failure a managed control plane shows when
// its database is slow or failing over, rather than refused connections.
// A worker asks for a cache inside the stall while another worker's cache
// carries traffic: the traffic must not notice (the pod network does not go
// through the control plane), the new cache must come once etcd is back,
// and teardown must leave nothing.
const NS = 'kc-chaos-17';
const STALL_MS = 10_000;
const HUNG_MS = 5000;
const ACQUIRE_LIMIT_MS = 90_000;

describe.sequential('scenario 17: etcd stalled for 10 s under a running API server', () => {
  afterAll(async () => {
    await component('cont', 'etcd').catch(() => undefined);
    await deleteChaosNamespace(NS);
  });

  it('traffic goes on, a cache asked for in the stall comes after it, nothing is left', async () => {
    await waitHealthy();
    const { broker } = await startBroker(NS);
    const runId = broker.runId;
    let asked: Awaited<ReturnType<typeof within<CacheLease>>> = { timedOut: true, ms: 0 };
    let working = false;
    let resumedAt = 0;
    let askedAt = 0;
    let stats: Awaited<ReturnType<ReturnType<typeof startTraffic>['stop']>> | undefined;
    let teardown: Awaited<ReturnType<typeof within>> = { timedOut: true, ms: 0 };
    try {
      const lease = await broker.acquire({ engine: 'redis', worker: '1' });
      const redis = await createRedisClient(
        { host: lease.host, port: lease.port },
        login(lease.auth),
      );
      await redis.connect();
      const traffic = startTraffic(async (i) => {
        await redis.set(`k${i % 100}`, String(i));
      }, HUNG_MS);
      try {
        await sleep(1000);
        let pending: Promise<Awaited<ReturnType<typeof within<CacheLease>>>> | undefined;
        try {
          await component('stop', 'etcd');
          const stoppedAt = Date.now();
          await sleep(1000);
          askedAt = Date.now();
          pending = within(broker.acquire({ engine: 'memcached', worker: '2' }), ACQUIRE_LIMIT_MS);
          await sleep(Math.max(0, STALL_MS - (Date.now() - stoppedAt)));
        } finally {
          await component('cont', 'etcd');
          resumedAt = Date.now();
        }
        asked = await pending;
        if (asked.value) working = await cacheAnswers(asked.value).catch(() => false);
      } finally {
        stats = await traffic.stop();
        await closeRedisClient(redis);
      }
    } finally {
      teardown = await within(broker.teardown(), 120_000);
    }
    const left = await waitNothingLeft(NS, 120_000, runId);
    const got = asked.value !== undefined;
    const pass =
      got &&
      working &&
      (stats?.hung ?? 1) === 0 &&
      (stats?.errors ?? 1) === 0 &&
      !teardown.timedOut &&
      left.pods.length === 0 &&
      left.secrets.length === 0;
    const askedAfter = (askedAt + asked.ms - resumedAt) / 1000;
    record({
      n: 17,
      scenario: 'etcd stalled (SIGSTOP) 10 s under a running API server',
      endpoint: 'pod-ip',
      done: `redis traffic (one op at a time) on worker 1's cache; etcd SIGSTOPped ${STALL_MS / 1000} s; worker 2 acquired memcached 1 s into the stall; default timeouts`,
      held: `traffic: ${stats?.ok ?? 0} ok, ${stats?.errors ?? '?'} errors, ${stats?.hung ?? '?'} hung; acquire in the stall: ${asked.timedOut ? 'HUNG' : got ? (working ? 'got a working cache' : 'got a cache that did not answer') : `failed: ${String((asked.error as Error)?.message).slice(0, 160)}`}; pods and Secrets left after teardown: ${left.pods.length} and ${left.secrets.length}`,
      figures: `slowest op ${((stats?.maxLatencyMs ?? 0) / 1000).toFixed(1)} s; acquire settled after ${(asked.ms / 1000).toFixed(1)} s (${askedAfter.toFixed(1)} s after etcd resumed); teardown ${(teardown.ms / 1000).toFixed(1)} s`,
      pass,
    });
    expect(asked.timedOut, 'the acquire hung').toBe(false);
    expect(asked.error).toBeUndefined();
    expect(working, 'the cache handed out did not answer').toBe(true);
    expect(stats?.hung).toBe(0);
    expect(stats?.errors, stats?.lastError).toBe(0);
    expect(teardown.timedOut, 'teardown hung').toBe(false);
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });
});
