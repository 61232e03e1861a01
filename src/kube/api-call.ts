import createDebug from 'debug';
import { backoffMs, sleep, withTimeout } from '../deadline.js';
import { KubecacheError } from '../errors.js';
import {
  type ApiCall,
  describeCall,
  type NamespaceOrigin,
  serverMessage,
  statusOf,
  toKubecacheError,
} from './api-error.js';
import { type ConfigurationOptions, Observable, type ObservableMiddleware } from './client-node.js';
import type { ServerClock } from './server-clock.js';

const debug = createDebug('kubecache:api');

/**
 * Bounds for every request to the API server. client-node sets no request
 * timeout at all (undici's default is 300 s), so without `callMs` one stalled
 * API server hangs a run for five minutes per call.
 */
export interface ApiPolicy {
  /** One attempt: from sending the request to the whole answer. */
  callMs: number;
  /** All attempts of one call together, retries and their back-off included. */
  retryMs: number;
}

export const DEFAULT_API_POLICY: Readonly<ApiPolicy> = Object.freeze({
  callMs: 10_000,
  retryMs: 30_000,
});

/** Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3), as milliseconds from `nowMs`. */
export function retryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export type Retryable = 'transport' | 'deadline' | 'throttled' | 'server-error' | 'not-ready';

/**
 * Whether a failed attempt may be repeated. Only answers that say nothing
 * about the request itself are: no answer at all, 429 and 5xx. A 4xx other
 * than 429 would fail the same way again.
 */
export function retryableFailure(err: unknown): Retryable | undefined {
  if (err instanceof KubecacheError) return undefined;
  if (err instanceof DeadlineExceeded) return 'deadline';
  const status = statusOf(err);
  if (status === undefined) return 'transport';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'server-error';
  // A namespace a moment old has no "default" ServiceAccount yet; its
  // controller creates it within a second or two.
  if (status === 403 && /error looking up service account/.test(serverMessage(err))) {
    return 'not-ready';
  }
  return undefined;
}

class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
}

export interface ApiCallOptions<T> {
  /**
   * Safe to send again after a failure whose outcome is unknown. Reads,
   * deletes and merge patches are; creates are made so by `onConflict`.
   */
  idempotent: boolean;
  /** Overrides the handle's policy for this call (e.g. the connect probe). */
  policy?: Partial<ApiPolicy>;
  /**
   * A 409 AlreadyExists on a retry of a create: the first attempt may have
   * succeeded without us seeing the answer. Returns the object if it is ours
   * (the caller checks), or undefined to report the conflict.
   */
  onConflict?: () => Promise<T | undefined>;
  /** Stops retrying (teardown began, the start was cancelled). */
  signal?: AbortSignal | undefined;
}

/** What every API call needs from the handle: policy, clock and the namespace for messages. */
export interface ApiContext {
  namespace: string;
  /** How the namespace was chosen, for NAMESPACE_NOT_FOUND's next step. */
  namespaceOrigin?: NamespaceOrigin;
  policy: ApiPolicy;
  clock: ServerClock;
}

/**
 * Sends one Kubernetes request with a deadline per attempt and, for
 * idempotent calls, retries on connection errors, 429 (honouring
 * Retry-After) and 5xx until the retry budget is spent. `send` gets
 * client-node ConfigurationOptions carrying the abort signal and a
 * middleware that feeds the API server's Date header to the clock.
 * Every failure leaves as a KubecacheError naming the call.
 */
export async function apiCall<T>(
  ctx: ApiContext,
  call: ApiCall,
  send: (options: ConfigurationOptions<ObservableMiddleware>) => Promise<T>,
  opts: ApiCallOptions<T>,
): Promise<T> {
  const policy = { ...ctx.policy, ...opts.policy };
  const started = Date.now();
  const budgetEnd = started + policy.retryMs;
  let last: unknown;
  for (let attempt = 1; ; attempt++) {
    const remaining = budgetEnd - Date.now();
    const attemptMs = Math.max(
      1,
      Math.min(policy.callMs, attempt === 1 ? policy.callMs : remaining),
    );
    try {
      return await attemptOnce(ctx, send, attemptMs, opts.signal);
    } catch (err) {
      last = err;
      if (attempt > 1 && statusOf(err) === 409 && opts.onConflict) {
        const existing = await opts.onConflict();
        if (existing !== undefined) {
          debug('%s: created by an earlier attempt', describeCall(call));
          return existing;
        }
      }
      const kind = retryableFailure(err);
      if (!kind || !opts.idempotent || opts.signal?.aborted) break;
      const headerWait =
        kind === 'throttled' ? retryAfterMs(headerOf(err, 'retry-after'), Date.now()) : undefined;
      const wait = headerWait ?? backoffMs(attempt);
      if (Date.now() + wait >= budgetEnd) break;
      debug(
        '%s: attempt %d failed (%s: %s), retrying in %d ms',
        describeCall(call),
        attempt,
        kind,
        (err as Error).message,
        wait,
      );
      // Not unref'd: while a call backs off nothing else may hold the event
      // loop (a global setup awaiting its first pod), and Node would exit.
      await sleep(wait, { signal: opts.signal });
    }
  }
  if (last instanceof DeadlineExceeded) {
    throw new KubecacheError(
      'TIMEOUT',
      `${describeCall(call)}: the API server did not answer within ${policy.callMs} ms per attempt (${Date.now() - started} ms in all). Check that the cluster is up, or raise timeouts.apiCallMs / timeouts.apiRetryMs.`,
      { ...call, callMs: policy.callMs, retryMs: policy.retryMs },
    );
  }
  throw toKubecacheError(last, call, ctx.namespaceOrigin);
}

async function attemptOnce<T>(
  ctx: ApiContext,
  send: (options: ConfigurationOptions<ObservableMiddleware>) => Promise<T>,
  ms: number,
  outer: AbortSignal | undefined,
): Promise<T> {
  const controller = new AbortController();
  const onOuter = (): void => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  let timedOut = false;
  const sentAt = Date.now();
  // client-node's generated API takes Observable-style middleware; its own stub wraps a promise.
  const middleware: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(controller.signal);
      return new Observable(Promise.resolve(request));
    },
    post: (response) => {
      ctx.clock.observe(response.headers.date, sentAt, Date.now());
      return new Observable(Promise.resolve(response));
    },
  };
  const options: ConfigurationOptions<ObservableMiddleware> = {
    middleware: [middleware],
    middlewareMergeStrategy: 'append',
  };
  try {
    return await withTimeout(
      send(options),
      ms,
      () => {
        timedOut = true;
        controller.abort();
        return new DeadlineExceeded(`no answer within ${ms} ms`);
      },
      { unref: true },
    );
  } catch (err) {
    if (timedOut) throw new DeadlineExceeded(`no answer within ${ms} ms`);
    // An error response still has a Date header; ApiException keeps the headers.
    const date = headerOf(err, 'date');
    if (date) ctx.clock.observe(date, sentAt, Date.now());
    throw err;
  } finally {
    outer?.removeEventListener('abort', onOuter);
  }
}

function headerOf(err: unknown, name: string): string | undefined {
  const headers = (err as { headers?: Record<string, string> | Headers })?.headers;
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function')
    return (headers as Headers).get(name) ?? undefined;
  return (headers as Record<string, string>)[name];
}
