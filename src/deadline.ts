/**
 * Shared helpers for waiting: sleeps, a promise raced against a timer, and
 * repeated attempts until a deadline. Call sites used to hand-roll these,
 * each with its own copy of the timer clean-up and its own way of checking
 * the deadline (before or after the wait, with > or >=). Waits driven by
 * events (a socket's connect/error/timeout timers, a watch's callbacks) stay
 * written out where they are: they settle from several sources, which a
 * promise race does not express.
 *
 * Both sides of the process split use it: the main process (broker, kube)
 * and the worker side that Jest loads as CommonJS, which must not reach the
 * broker or @kubernetes/client-node. So this module imports nothing.
 */

/**
 * Resolves after `ms`. An abort resolves it at once instead of rejecting:
 * the caller is a retry loop (apiCall's back-off) that looks at its signal
 * itself after the wait, and a rejection would only have to be caught there.
 *
 * The timer holds the event loop open unless `unref` is set. Most waits must
 * hold it: while a call backs off, nothing else may be pending (a global
 * setup awaiting its first pod) and Node would exit mid-wait.
 */
export function sleep(
  ms: number,
  opts: { signal?: AbortSignal | undefined; unref?: boolean } = {},
): Promise<void> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    if (opts.unref) timer.unref();
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Whether a timer may keep the process alive while it runs. */
export interface TimerOptions {
  /** Let Node exit while only this timer is pending. */
  unref?: boolean;
}

/**
 * `work`, or the error `onTimeout` builds if it has not settled within `ms`.
 * `onTimeout` runs when the timer fires, so its message can describe the
 * state at that moment (a client's status, bytes received so far).
 */
export function withTimeout<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  opts: TimerOptions = {},
): Promise<T> {
  return race(
    work,
    ms,
    () => {
      throw onTimeout();
    },
    opts,
  );
}

/**
 * `work`, or what `fallback` returns if it has not settled within `ms`: for
 * waits whose end is an answer in itself ("not closed in time: drop the
 * socket"), not a failure. `fallback` runs when the timer fires.
 */
export function orFallbackAfter<T, F>(
  work: Promise<T>,
  ms: number,
  fallback: () => F,
  opts: TimerOptions = {},
): Promise<T | F> {
  return race(work, ms, fallback, opts);
}

function race<T, F>(
  work: Promise<T>,
  ms: number,
  expire: () => F,
  opts: TimerOptions,
): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<F>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(expire());
      } catch (err) {
        reject(err);
      }
    }, ms);
    if (opts.unref) timer.unref();
  });
  // Once the timer has won, a rejection of `work` has nobody left to tell;
  // it does not surface as an unhandled rejection, because Promise.race
  // subscribes to every input, `work` included.
  // Cleared on either outcome: a pending timer would keep the process (a
  // Jest worker, a CLI command) alive for the rest of `ms`.
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * When repeated attempts stop: at a deadline (absolute, in Date.now()
 * milliseconds, or `budgetMs` from the call), or after a number of attempts.
 */
export type RetryLimit =
  | { deadline: number; budgetMs?: never; attempts?: never }
  | { budgetMs: number; deadline?: never; attempts?: never }
  | { attempts: number; deadline?: never; budgetMs?: never };

export type PollOptions = RetryLimit & {
  /** The wait after failed attempt `attempt` (1-based) before the next one. */
  delayMs: (attempt: number) => number;
  /** Waits that do not keep the process alive (a background loop in a runner that may exit). */
  unref?: boolean;
};

/**
 * Calls `check` until it returns something other than undefined, and
 * resolves with that; resolves with undefined when the limit ends the
 * polling first.
 *
 * The first check always runs. After an unsuccessful one, polling stops if
 * the deadline has come or the attempts are spent; otherwise it waits
 * `delayMs(attempt)` and checks again, even if the deadline passes during
 * that wait. So the last check is a look at the state at (or just after)
 * the deadline, which is what a caller waiting for something to happen
 * wants; a caller that must not start work past the deadline bounds the
 * delay by the time left, as deleteAll does.
 */
export async function pollUntil<T>(
  check: (attempt: number) => Promise<T | undefined>,
  opts: PollOptions,
): Promise<T | undefined> {
  const deadline =
    opts.deadline ?? (opts.budgetMs === undefined ? Infinity : Date.now() + opts.budgetMs);
  const attempts = opts.attempts ?? Infinity;
  for (let attempt = 1; ; attempt++) {
    const value = await check(attempt);
    if (value !== undefined) return value;
    if (attempt >= attempts || Date.now() >= deadline) return undefined;
    await sleep(opts.delayMs(attempt), { unref: opts.unref === true });
  }
}

export type RetryOptions = PollOptions & {
  /** False ends the retries at once and rethrows the error; default: every error is retried. */
  shouldRetry?: (err: unknown) => boolean;
  /**
   * The error to throw when the limit ends the retries, given the last
   * attempt's error; default: that error itself.
   */
  onExhausted?: (last: unknown) => unknown;
};

/**
 * Resolves with the first successful attempt. An error `shouldRetry` refuses
 * is rethrown at once; when the limit ends the retries, the last error (or
 * what `onExhausted` makes of it) is thrown. Attempts and waits follow
 * pollUntil's rules.
 */
export async function retryUntil<T>(
  attempt: (attempt: number) => Promise<T>,
  opts: RetryOptions,
): Promise<T> {
  let last: unknown;
  // Boxed, so that an attempt may legitimately resolve with undefined.
  const result = await pollUntil(async (n) => {
    try {
      return { value: await attempt(n) };
    } catch (err) {
      if (opts.shouldRetry && !opts.shouldRetry(err)) throw err;
      last = err;
      return undefined;
    }
  }, opts);
  if (result) return result.value;
  throw opts.onExhausted ? opts.onExhausted(last) : last;
}

// Delay policies: what delayMs returns, or what a hand-written loop waits.

const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 3_000;

/**
 * The wait before attempt `attempt + 1` against the API server: exponential
 * with full jitter in its upper half, so a fleet of runs that lost the same
 * API server does not come back in lock step.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
