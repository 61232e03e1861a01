import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { redisReady } from '../../src/engines/redis/client.js';
import type { NodeRedisClient } from '../../src/engines/redis/commander.js';
import { nodeRedisReady } from '../../src/engines/redis/node-redis-client.js';
import { isKubecacheError } from '../../src/errors.js';
import type { PodDescription } from '../../src/worker/cache-slot.js';
import { cachePodReport } from '../../src/worker/report.js';

// Call sites whose waits come from src/deadline.ts and that no other unit
// test reaches: their messages, delays and clean-up must not have changed.
// Waits that talk to the API server (teardown's delete-and-wait, log reads)
// are proven on the dev cluster by the integration suite, never against a
// fake Kubernetes API.

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

type ReportedCache = Parameters<typeof cachePodReport>[0] extends Iterable<infer C> ? C : never;

function reportable(describe: () => Promise<PodDescription>): ReportedCache {
  return {
    engine: 'redis' as const,
    opened: true,
    podName: 'kc-pod',
    host: '10.0.0.1',
    port: 6379,
    lease: { namespace: 'ns' },
    describe,
  } as unknown as ReportedCache;
}

describe('cachePodReport', () => {
  it('gives up on a broker that does not answer within 5 s and says so', async () => {
    const report = cachePodReport([reportable(() => new Promise(() => {}))]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect((await report)?.message).toContain(
      "(could not read the pod's logs: no answer from the broker within 5000 ms)",
    );
    expect(vi.getTimerCount()).toBe(0);
  });

  it('shows the logs of a broker that answers, and leaves no timer behind', async () => {
    const report = await cachePodReport([
      reportable(async () => ({ podName: 'kc-pod', events: [], logs: 'Ready to accept' })),
    ]);
    expect(report?.message).toContain('    | Ready to accept');
    expect(vi.getTimerCount()).toBe(0);
  });
});

class FakeClient extends EventEmitter {
  status = 'reconnecting';
  isReady = false;
  isOpen = true;
  options = { host: '127.0.0.1', port: 6390 };
}

// Both clients' ready waits, on the same fake client: ioredis names its
// status when the wait ends, node-redis has none to name.
describe.each([
  {
    name: 'redisReady',
    ready: (client: FakeClient, ms: number) => redisReady(client as unknown as Redis, ms),
    message:
      '[UNREACHABLE] The redis client did not reconnect to 127.0.0.1:6390 within 300 ms (status connecting, last error: none).',
  },
  {
    name: 'nodeRedisReady',
    ready: (client: FakeClient, ms: number) =>
      nodeRedisReady(client as unknown as NodeRedisClient, ms),
    message:
      '[UNREACHABLE] The node-redis client did not reconnect within 300 ms (last error: none).',
  },
])('$name', ({ ready, message }) => {
  it('rejects with UNREACHABLE after timeoutMs, naming the state then, and stops listening', async () => {
    const client = new FakeClient();
    const waiting = ready(client, 300).catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(299);
    client.status = 'connecting';
    await vi.advanceTimersByTimeAsync(1);
    const err = await waiting;
    expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
    expect((err as Error).message.startsWith(message), (err as Error).message).toBe(true);
    // ... and the next step after the state.
    expect((err as Error).message).toContain('cache.describe()');
    expect(client.listenerCount('ready')).toBe(0);
  });

  it("resolves on 'ready', clearing its timer and listener", async () => {
    const client = new FakeClient();
    const waiting = ready(client, 300);
    client.emit('ready');
    await waiting;
    expect(vi.getTimerCount()).toBe(0);
    expect(client.listenerCount('ready')).toBe(0);
  });
});
