import type { Redis, RedisOptions } from 'ioredis';
import { orFallbackAfter, withTimeout } from '../../deadline.js';
import { KubecacheError } from '../../errors.js';
import type { CacheAccess, ConnectHooks, Endpoint } from '../types.js';
import { loadPeer } from './load-peer.js';

export type { Endpoint } from '../types.js';

const MAX_RECONNECTS = 5;
const lastErrors = new WeakMap<Redis, Error>();

/**
 * An ioredis client (the `client: 'ioredis'` choice, the default) tuned for a short-lived test cache: it connects on first
 * use, gives up after a few quick reconnects instead of retrying forever, and
 * never lets an 'error' event go unhandled (which would crash the worker).
 */
export async function createRedisClient(
  endpoint: Endpoint,
  extra: RedisOptions = {},
  hooks?: ConnectHooks,
): Promise<Redis> {
  // Loaded on first use: ioredis is an optional peer dependency, needed only
  // by tests that use it (5 and 6 both work).
  const mod = await loadPeer('ioredis', () => import('ioredis'));
  const RedisClass = (mod.Redis ??
    (mod as unknown as { default: typeof Redis }).default) as typeof Redis;
  const client = new RedisClass({
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: 3,
    // How long disconnect() waits for a graceful FIN before destroying the
    // socket; a vanished pod never answers, and teardown should not idle.
    disconnectTimeout: 500,
    // During an outage the test asked for (cache.stop() ... start()) the
    // client must still be there afterwards, so it keeps trying.
    retryStrategy: (times) =>
      times > MAX_RECONNECTS && !hooks?.keepRetrying() ? null : Math.min(times * 50, 500),
    ...extra,
    host: endpoint.host,
    port: endpoint.port,
  });
  client.on('error', (err: Error) => {
    lastErrors.set(client, err);
  });
  return client;
}

/** What to look at when the client does not come back after an outage the test made. */
const NOT_BACK =
  "The server was started again (start() or restart()), but this client did not get back to it. cache.describe() gives the pod's events and last log lines; " +
  'a retryStrategy in clientOptions that gives up also keeps the client from reconnecting.';

/** Resolves once the client is 'ready' again (after a reconnect), rejects after timeoutMs. */
export async function redisReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  let onReady: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
    client.once('ready', onReady);
  });
  try {
    await withTimeout(ready, timeoutMs, () => {
      const { host, port } = client.options;
      return new KubecacheError(
        'UNREACHABLE',
        `The redis client did not reconnect to ${host}:${port} within ${timeoutMs} ms (status ${client.status}, ` +
          `last error: ${lastRedisError(client)?.message ?? 'none'}). ${NOT_BACK}`,
        { host, port, status: client.status },
      );
    });
  } finally {
    if (onReady) client.off('ready', onReady);
  }
}

/** ioredis options for a locked cache: AUTH with the login, TLS checked against the run's CA. */
export function redisAccessOptions(access: CacheAccess | undefined): RedisOptions {
  return {
    ...(access?.login ? { username: access.login.username, password: access.login.password } : {}),
    ...(access?.tls ? { tls: { ca: access.tls.ca, servername: access.tls.servername } } : {}),
  };
}

/** The most recent 'error' event, for diagnostics when a command later fails. */
export function lastRedisError(client: Redis): Error | undefined {
  return lastErrors.get(client);
}

/**
 * Closes politely with QUIT when the server answers, and falls back to
 * dropping the socket when it does not (e.g. the pod is already gone), so
 * teardown never hangs. Afterwards no socket or reconnect timer remains.
 */
export async function closeRedisClient(client: Redis, timeoutMs = 1000): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    const quit = client.quit().then(
      () => true,
      () => false,
    );
    if ((await orFallbackAfter(quit, timeoutMs, () => false)) && (await ended(client, timeoutMs)))
      return;
  }
  client.disconnect(false);
  if ((client.status as string) === 'reconnecting') {
    // Between reconnect attempts there is no socket, so disconnect() emits no
    // 'close': ioredis would stay 'reconnecting' and queued commands would hang
    // forever. One last attempt, already flagged as a manual close, ends in
    // ioredis's own close path: status 'end' and every queued command rejected.
    client.connect().catch(() => {});
  }
  if (await ended(client, timeoutMs)) return;
  // The last attempt reached a server (or is still connecting): drop it.
  client.disconnect(false);
  await ended(client, timeoutMs);
}

function ended(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'end') return Promise.resolve(true);
  return orFallbackAfter(
    new Promise<boolean>((resolve) => client.once('end', () => resolve(true))),
    timeoutMs,
    () => false,
  );
}
