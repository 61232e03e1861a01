import { afterAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.js';
import type { CacheLease } from '../../src/broker/types.js';
import { closeRedisClient, createRedisClient } from '../../src/engines/redis/client.js';
import { sleep, waitHealthy } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  deleteChaosNamespace,
  login,
  startBroker,
  waitNothingLeft,
  within,
} from './support/runs.js';

// Scenario 4: a cache container dies in place while its pod object stays:
// OOMKilled (filled past a 48Mi limit) or killed from inside after it was
// ready (SHUTDOWN NOSAVE). The lease in flight must turn "gone" with a reason
// naming what happened, and the next acquire must get a replacement pod.
const NS = 'kc-chaos-4';
const MB = 'x'.repeat(1024 * 1024);

type Fault = 'oom' | 'exit';

async function inflict(fault: Fault, lease: CacheLease): Promise<string> {
  // SHUTDOWN is kubecache's own (admin) command; the test's login may only fill.
  const creds = fault === 'exit' ? (lease.admin ?? lease.auth) : lease.auth;
  const client = await createRedisClient(
    { host: lease.host, port: lease.port },
    { maxRetriesPerRequest: 0, ...login(creds) },
  );
  try {
    await client.connect();
    if (fault === 'exit') {
      await client.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
      return 'SHUTDOWN NOSAVE';
    }
    for (let i = 0; i < 200; i++) {
      const ok = await client.set(`fill:${i}`, MB).then(
        () => true,
        () => false,
      );
      if (!ok) return `filled ${i} MB`;
    }
    return 'filled 200 MB without dying';
  } finally {
    await closeRedisClient(client);
  }
}

/** Polls the lease until the broker reports it gone, or the limit passes. */
async function goneReason(
  broker: Broker,
  id: string,
  limitMs: number,
): Promise<{ reason?: string; ms: number }> {
  const t0 = Date.now();
  for (let i = 0; i < 1000 && Date.now() - t0 < limitMs; i++) {
    const s = broker.status(id);
    if (s.state === 'gone') return { reason: s.reason ?? '(no reason)', ms: Date.now() - t0 };
    await sleep(250);
  }
  return { ms: Date.now() - t0 };
}

describe.sequential('scenario 4: cache containers that die in place', () => {
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  const cases: { fault: Fault; endpoint: 'pod-ip' | 'port-forward'; expect: RegExp }[] = [
    { fault: 'oom', endpoint: 'pod-ip', expect: /OOMKilled/ },
    { fault: 'oom', endpoint: 'port-forward', expect: /OOMKilled/ },
    { fault: 'exit', endpoint: 'pod-ip', expect: /exit|terminated|Completed|stopped/i },
    { fault: 'exit', endpoint: 'port-forward', expect: /exit|terminated|Completed|stopped/i },
  ];
  for (const c of cases) {
    it(`${c.fault === 'oom' ? 'OOMKilled' : 'killed from inside'} over ${c.endpoint}: named reason, replacement pod`, async () => {
      await waitHealthy();
      const { broker } = await startBroker(NS);
      const options = {
        endpoint: c.endpoint,
        resources: { requests: { memory: '32Mi' }, limits: { memory: '48Mi' } },
        // The fault is SHUTDOWN (or filling memory) from a client: an open
        // cache, since a locked one keeps SHUTDOWN from tests.
        auth: false,
      };
      let row = { done: '', held: '', figures: '', pass: false };
      try {
        await run();
      } catch (err) {
        row.held = `scenario error: ${String((err as Error).message).slice(0, 200)}`;
        throw err;
      } finally {
        await broker.teardown().catch(() => undefined);
        const left = await waitNothingLeft(NS, 30_000, broker.runId);
        row.held += `; pods left ${left.pods.length}`;
        row.pass &&= left.ms !== undefined;
        record({
          n: 4,
          scenario:
            c.fault === 'oom'
              ? 'Cache container OOMKilled'
              : 'Cache container killed from inside after ready',
          endpoint: c.endpoint,
          ...row,
        });
      }
      expect(row.pass, row.held).toBe(true);

      async function run(): Promise<void> {
        const first = await broker.acquire({ engine: 'redis', worker: '1', options });
        const what = await inflict(c.fault, first);
        const gone = await goneReason(broker, first.id, 30_000);
        const next = await within(
          broker.acquire({ engine: 'redis', worker: '1', options }),
          90_000,
        );
        let answered = false;
        if (next.value) {
          const client = await createRedisClient(
            { host: next.value.host, port: next.value.port },
            login(next.value.auth),
          );
          answered = await client
            .connect()
            .then(() => client.ping())
            .then(
              (p) => p === 'PONG',
              () => false,
            );
          await closeRedisClient(client);
        }
        const replaced =
          next.value !== undefined && next.value.podName !== first.podName && answered;
        const named = gone.reason !== undefined && c.expect.test(gone.reason);
        row = {
          done: `redis with a 48Mi limit; ${what}`,
          held: `lease in flight: ${gone.reason ? `gone after ${(gone.ms / 1000).toFixed(1)} s: "${gone.reason.slice(0, 140)}"` : `still "ready" after ${(gone.ms / 1000).toFixed(0)} s`}; next acquire: ${next.value ? (next.value.podName === first.podName ? 'the SAME dead pod' : `replacement ${answered ? 'answered PING' : 'did NOT answer'}`) : `failed: ${String((next.error as Error | undefined)?.message ?? 'hung').slice(0, 100)}`}`,
          figures: `replacement after ${(next.ms / 1000).toFixed(1)} s`,
          pass: named && replaced,
        };
      }
    });
  }
});
