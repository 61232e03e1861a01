import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { redisReady } from '../../src/engines/redis/client.js';
import type { NodeRedisClient } from '../../src/engines/redis/commander.js';
import { nodeRedisReady } from '../../src/engines/redis/node-redis-client.js';
import { isKubecacheError } from '../../src/errors.js';
import type { KubeHandle } from '../../src/kube/client.js';
import { deleteAllAndWait, describePod } from '../../src/kube/pods.js';
import { ServerClock } from '../../src/kube/server-clock.js';
import type { PodDescription } from '../../src/worker/cache-slot.js';
import { cachePodReport } from '../../src/worker/report.js';

// Call sites whose waits come from src/deadline.ts and that no other unit
// test reaches: their messages, delays and clean-up must not have changed.

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

describe('redisReady', () => {
  it('rejects with UNREACHABLE after timeoutMs, naming the status then, and stops listening', async () => {
    const client = new FakeClient();
    const ready = redisReady(client as unknown as Redis, 300).catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(299);
    client.status = 'connecting';
    await vi.advanceTimersByTimeAsync(1);
    const err = await ready;
    expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
    expect((err as Error).message).toBe(
      '[UNREACHABLE] The redis client did not reconnect to 127.0.0.1:6390 within 300 ms (status connecting, last error: none).',
    );
    expect(client.listenerCount('ready')).toBe(0);
  });

  it("resolves on 'ready', clearing its timer and listener", async () => {
    const client = new FakeClient();
    const ready = redisReady(client as unknown as Redis, 300);
    client.emit('ready');
    await ready;
    expect(vi.getTimerCount()).toBe(0);
    expect(client.listenerCount('ready')).toBe(0);
  });
});

describe('nodeRedisReady', () => {
  it('rejects with UNREACHABLE after timeoutMs and stops listening', async () => {
    const client = new FakeClient();
    const ready = nodeRedisReady(client as unknown as NodeRedisClient, 300).catch(
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(300);
    const err = await ready;
    expect((err as Error).message).toBe(
      '[UNREACHABLE] The node-redis client did not reconnect within 300 ms (last error: none).',
    );
    expect(client.listenerCount('ready')).toBe(0);
  });

  it("resolves on 'ready', clearing its timer and listener", async () => {
    const client = new FakeClient();
    const ready = nodeRedisReady(client as unknown as NodeRedisClient, 300);
    client.emit('ready');
    await ready;
    expect(vi.getTimerCount()).toBe(0);
    expect(client.listenerCount('ready')).toBe(0);
  });
});

/**
 * A namespace behind a fake CoreV1Api: deleted pods stay listed (terminating)
 * for `lingerLists` more pod lists; `now()` of every delete round is recorded.
 */
function fakeNamespace(opts: { pods: string[]; secrets?: string[]; lingerLists: number }) {
  const pods = new Map(opts.pods.map((n) => [n, Infinity]));
  const secrets = new Set(opts.secrets ?? []);
  const rounds: number[] = [];
  let lists = 0;
  const core = {
    listNamespacedPod: async () => {
      lists += 1;
      for (const [n, goneAfter] of pods) if (lists > goneAfter) pods.delete(n);
      return { items: [...pods.keys()].map((name) => ({ metadata: { name } })), metadata: {} };
    },
    listNamespacedSecret: async () => ({
      items: [...secrets].map((name) => ({ metadata: { name } })),
      metadata: {},
    }),
    deleteNamespacedPod: async ({ name }: { name: string }) => {
      if (rounds.at(-1) !== Date.now()) rounds.push(Date.now());
      if (pods.get(name) === Infinity) pods.set(name, lists + opts.lingerLists);
      return {};
    },
    deleteNamespacedSecret: async ({ name }: { name: string }) => {
      secrets.delete(name);
      return {};
    },
    listNamespacedEvent: async () => ({ items: [] }),
  };
  const handle = {
    namespace: 'ns',
    policy: { callMs: 1_000, retryMs: 1_000 },
    clock: new ServerClock(),
    core,
  } as unknown as KubeHandle;
  return { handle, core, rounds };
}

describe('deleteAllAndWait', () => {
  it('deletes, then looks again after 250, 500 ms ... until the pods are gone', async () => {
    const ns = fakeNamespace({ pods: ['a', 'b'], secrets: ['s'], lingerLists: 4 });
    const result = deleteAllAndWait(ns.handle, 'run=x', 10_000);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await result).toEqual({ remaining: [], remainingSecrets: [] });
    expect(ns.rounds).toEqual([0, 250, 750]);
  });

  it('stops at the budget with what is left, its last wait cut to the time left', async () => {
    const ns = fakeNamespace({ pods: ['a'], lingerLists: Infinity });
    const result = deleteAllAndWait(ns.handle, 'run=x', 1_000);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await result).toEqual({ remaining: ['a'], remainingSecrets: [] });
    // 250, 500, then only the 250 ms left: the last round runs at the deadline.
    expect(ns.rounds).toEqual([0, 250, 750, 1_000]);
  });
});

describe('describePod', () => {
  function withLogs(failures: number) {
    const ns = fakeNamespace({ pods: [], lingerLists: 0 });
    const asked: number[] = [];
    Object.assign(ns.core, {
      readNamespacedPodLog: async () => {
        asked.push(Date.now());
        if (asked.length <= failures) throw new Error('container is waiting to start');
        return 'Ready to accept connections';
      },
    });
    return { handle: ns.handle, asked };
  }

  it('asks a running pod for its logs every 250 ms while the container is not started', async () => {
    const { handle, asked } = withLogs(3);
    const described = describePod(handle, 'p', 'cache', { running: true });
    await vi.advanceTimersByTimeAsync(5_000);
    expect((await described).logs).toBe('Ready to accept connections');
    expect(asked).toEqual([0, 250, 500, 750]);
  });

  it('asks a running pod 8 times at most, any other pod once', async () => {
    const running = withLogs(Infinity);
    const other = withLogs(Infinity);
    const a = describePod(running.handle, 'p', 'cache', { running: true });
    const b = describePod(other.handle, 'p', 'cache');
    await vi.advanceTimersByTimeAsync(5_000);
    expect((await a).logs).toBe('(no logs: the container has not started)');
    expect((await b).logs).toBe('(no logs: the container has not started)');
    expect(running.asked).toHaveLength(8);
    expect(other.asked).toEqual([0]);
  });
});
