import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  backoffMs,
  orFallbackAfter,
  pollUntil,
  retryUntil,
  sleep,
  withTimeout,
} from '../../src/deadline.js';

/** Settles a promise into a plain value, so a rejection is never unhandled while timers advance. */
function outcome<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

/** Whether `p` has settled, without waiting for it. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await Promise.resolve();
  await Promise.resolve();
  return done;
}

/** The timers of `ms` that setTimeout made while `fn` ran (real timers). */
async function timersCreatedBy(ms: number, fn: () => Promise<unknown>): Promise<NodeJS.Timeout[]> {
  const spy = vi.spyOn(globalThis, 'setTimeout');
  try {
    await fn();
    return spy.mock.calls.flatMap((args, i) =>
      args[1] === ms ? [spy.mock.results[i]?.value as NodeJS.Timeout] : [],
    );
  } finally {
    spy.mockRestore();
  }
}

describe('with fake timers', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('sleep', () => {
    it('resolves after ms, not before', async () => {
      const p = sleep(100);
      await vi.advanceTimersByTimeAsync(99);
      expect(await settled(p)).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(await settled(p)).toBe(true);
    });

    it('resolves at once on abort and leaves no timer behind', async () => {
      const controller = new AbortController();
      const p = sleep(60_000, { signal: controller.signal });
      expect(vi.getTimerCount()).toBe(1);
      controller.abort();
      expect(await settled(p)).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('does not wait at all when the signal is already aborted', async () => {
      const p = sleep(60_000, { signal: AbortSignal.abort() });
      expect(vi.getTimerCount()).toBe(0);
      expect(await settled(p)).toBe(true);
    });
  });

  describe('withTimeout', () => {
    it("resolves with the work's value and clears its timer", async () => {
      const onTimeout = vi.fn(() => new Error('late'));
      const p = withTimeout(
        sleep(10).then(() => 'answer'),
        1_000,
        onTimeout,
      );
      await vi.advanceTimersByTimeAsync(10);
      expect(await p).toBe('answer');
      expect(vi.getTimerCount()).toBe(0);
      expect(onTimeout).not.toHaveBeenCalled();
    });

    it("passes the work's own rejection through and clears its timer", async () => {
      const p = outcome(
        withTimeout(Promise.reject(new Error('refused')), 1_000, () => new Error('late')),
      );
      expect((await p).error).toEqual(new Error('refused'));
      expect(vi.getTimerCount()).toBe(0);
    });

    it('rejects at ms with the error onTimeout builds when the timer fires', async () => {
      let state = 'connecting';
      const onTimeout = vi.fn(() => new Error(`no answer (${state})`));
      const p = outcome(withTimeout(new Promise(() => {}), 500, onTimeout));
      await vi.advanceTimersByTimeAsync(499);
      expect(onTimeout).not.toHaveBeenCalled();
      state = 'waiting for a reply';
      await vi.advanceTimersByTimeAsync(1);
      expect((await p).error).toEqual(new Error('no answer (waiting for a reply)'));
      expect(onTimeout).toHaveBeenCalledTimes(1);
    });
  });

  describe('orFallbackAfter', () => {
    it('resolves with the fallback at ms, built only then', async () => {
      const fallback = vi.fn(() => false);
      const p = orFallbackAfter(new Promise<boolean>(() => {}), 200, fallback);
      await vi.advanceTimersByTimeAsync(199);
      expect(await settled(p)).toBe(false);
      expect(fallback).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(await p).toBe(false);
      expect(fallback).toHaveBeenCalledTimes(1);
    });

    it('resolves with the work when it is faster, without the fallback, and clears its timer', async () => {
      const fallback = vi.fn(() => 'fallback');
      const p = orFallbackAfter(Promise.resolve('work'), 200, fallback);
      expect(await p).toBe('work');
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(500);
      expect(fallback).not.toHaveBeenCalled();
    });
  });

  describe('retryUntil', () => {
    it('succeeds after failures, waiting delayMs(attempt) between attempts', async () => {
      const at: number[] = [];
      const p = retryUntil(
        async (n) => {
          at.push(Date.now());
          if (n < 4) throw new Error(`fail ${n}`);
          return `ok after ${n}`;
        },
        { budgetMs: 10_000, delayMs: (n) => Math.min(10 * n, 25) },
      );
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await p).toBe('ok after 4');
      expect(at).toEqual([0, 10, 30, 55]);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('rethrows an error shouldRetry refuses at once, without waiting', async () => {
      const attempt = vi.fn(async (n: number) => {
        throw new Error(n === 1 ? 'transient' : 'forbidden');
      });
      let endedAt: number | undefined;
      const p = outcome(
        retryUntil(attempt, {
          budgetMs: 10_000,
          delayMs: () => 100,
          shouldRetry: (err) => (err as Error).message !== 'forbidden',
        }).finally(() => {
          endedAt = Date.now();
        }),
      );
      await vi.advanceTimersByTimeAsync(20_000);
      expect((await p).error).toEqual(new Error('forbidden'));
      expect(attempt).toHaveBeenCalledTimes(2);
      expect(endedAt).toBe(100);
    });

    it('stops once the deadline has come and rethrows the last error', async () => {
      const at: number[] = [];
      const p = outcome(
        retryUntil(
          async (n) => {
            at.push(Date.now());
            throw new Error(`fail ${n}`);
          },
          { deadline: 100, delayMs: () => 40 },
        ),
      );
      await vi.advanceTimersByTimeAsync(1_000);
      // The attempt that starts after the last wait is the look at the deadline.
      expect(at).toEqual([0, 40, 80, 120]);
      expect((await p).error).toEqual(new Error('fail 4'));
    });

    it('throws what onExhausted makes of the last error', async () => {
      const p = outcome(
        retryUntil(
          async (n) => {
            throw new Error(`refused ${n}`);
          },
          {
            budgetMs: 50,
            delayMs: () => 20,
            onExhausted: (last) => new Error(`gave up (last error: ${(last as Error).message})`),
          },
        ),
      );
      await vi.advanceTimersByTimeAsync(1_000);
      expect((await p).error).toEqual(new Error('gave up (last error: refused 4)'));
    });

    it('makes at most `attempts` attempts and does not wait after the last', async () => {
      const at: number[] = [];
      const p = outcome(
        retryUntil(
          async () => {
            at.push(Date.now());
            throw new Error('no');
          },
          { attempts: 3, delayMs: (n) => 100 * n },
        ).finally(() => at.push(Date.now())),
      );
      await vi.advanceTimersByTimeAsync(10_000);
      expect((await p).error).toEqual(new Error('no'));
      // Attempts at 0, 100 and 300 ms; it gives up at 300, not after a third wait.
      expect(at).toEqual([0, 100, 300, 300]);
    });

    it('resolves with undefined when that is what the attempt returns', async () => {
      const attempt = vi.fn(async () => undefined);
      expect(await retryUntil(attempt, { attempts: 3, delayMs: () => 10 })).toBeUndefined();
      expect(attempt).toHaveBeenCalledTimes(1);
    });
  });

  describe('pollUntil', () => {
    it('resolves with the first answer, falsy ones included', async () => {
      const answers = [undefined, undefined, false];
      const p = pollUntil(async (n) => answers[n - 1], { budgetMs: 1_000, delayMs: () => 10 });
      await vi.advanceTimersByTimeAsync(100);
      expect(await p).toBe(false);
      expect(Date.now()).toBe(100);
    });

    it('resolves with undefined once the deadline has come', async () => {
      const check = vi.fn(async () => undefined);
      const p = pollUntil(check, { budgetMs: 250, delayMs: (n) => Math.min(100 * n, 1000) });
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await p).toBeUndefined();
      // Checks at 0, 100 and 300 ms: the third is past the deadline, so polling ends.
      expect(check).toHaveBeenCalledTimes(3);
    });
  });
});

describe('with real timers', () => {
  it('sleep holds the event loop unless asked not to', async () => {
    const [held] = await timersCreatedBy(7, () => sleep(7));
    const [unrefd] = await timersCreatedBy(7, () => sleep(7, { unref: true }));
    expect(held?.hasRef()).toBe(true);
    expect(unrefd?.hasRef()).toBe(false);
  });

  it('withTimeout and orFallbackAfter unref their timer only when asked', async () => {
    const [held] = await timersCreatedBy(1_234, () =>
      withTimeout(Promise.resolve(1), 1_234, () => new Error('late')),
    );
    const [unrefd] = await timersCreatedBy(1_234, () =>
      orFallbackAfter(Promise.resolve(1), 1_234, () => 0, { unref: true }),
    );
    expect(held?.hasRef()).toBe(true);
    expect(unrefd?.hasRef()).toBe(false);
  });

  it('a rejection of the work after the timeout is not left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      let fail: (err: Error) => void = () => {};
      const work = new Promise<never>((_, reject) => {
        fail = reject;
      });
      await expect(withTimeout(work, 5, () => new Error('timed out'))).rejects.toThrow('timed out');
      fail(new Error('too late'));
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('backoffMs', () => {
  it('grows exponentially, stays within the upper half of its ceiling and caps at 3 s', () => {
    expect(backoffMs(1, () => 0)).toBe(50);
    expect(backoffMs(1, () => 1)).toBe(100);
    expect(backoffMs(3, () => 0)).toBe(200);
    expect(backoffMs(3, () => 1)).toBe(400);
    expect(backoffMs(20, () => 1)).toBe(3_000);
    expect(backoffMs(20, () => 0)).toBe(1_500);
  });
});
