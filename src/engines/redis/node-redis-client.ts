import { orFallbackAfter, withTimeout } from '../../deadline.js';
import { KubecacheError } from '../../errors.js';
import type { CacheAccess, ConnectHooks, Endpoint } from '../types.js';
import { type NodeRedisClient, nodeRedisCommander, type RespCommander } from './commander.js';
import { loadPeer } from './load-peer.js';

const MAX_RECONNECTS = 5;
const lastErrors = new WeakMap<NodeRedisClient, Error>();

/**
 * A node-redis client (`client: 'node-redis'`, the `redis` package, loaded
 * only when chosen), tuned like the ioredis one: a few quick reconnects, then
 * it gives up, except during an outage the test asked for; 'error' events are
 * recorded, never left unhandled.
 */
export async function createNodeRedisClient(
  endpoint: Endpoint,
  access?: CacheAccess,
  hooks?: ConnectHooks,
): Promise<{ client: NodeRedisClient; resp: RespCommander }> {
  const mod = await loadPeer('redis', () => import('redis'));
  const client = mod.createClient({
    ...(access?.login ? { username: access.login.username, password: access.login.password } : {}),
    socket: {
      host: endpoint.host,
      port: endpoint.port,
      ...(access?.tls
        ? { tls: true as const, ca: access.tls.ca, servername: access.tls.servername }
        : {}),
      connectTimeout: 5000,
      reconnectStrategy: (retries: number) =>
        retries >= MAX_RECONNECTS && !hooks?.keepRetrying()
          ? false
          : Math.min((retries + 1) * 50, 500),
    },
  }) as unknown as NodeRedisClient;
  client.on('error', (err: Error) => {
    lastErrors.set(client, err);
  });
  const where = `${endpoint.host}:${endpoint.port}`;
  try {
    await client.connect();
  } catch (err) {
    throw new KubecacheError(
      'UNREACHABLE',
      `node-redis could not connect to ${where}: ${(err as Error).message}. ` +
        'If this machine cannot reach cache pods, "npx kubecache doctor" says how to set the endpoint option.',
      { where },
      { cause: err },
    );
  }
  return { client, resp: nodeRedisCommander(client, where, mod.RESP_TYPES.BLOB_STRING) };
}

export async function nodeRedisReady(client: NodeRedisClient, timeoutMs: number): Promise<void> {
  if (client.isReady) return;
  let onReady: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
    client.once('ready', onReady);
  });
  try {
    await withTimeout(
      ready,
      timeoutMs,
      () =>
        new KubecacheError(
          'UNREACHABLE',
          `The node-redis client did not reconnect within ${timeoutMs} ms (last error: ${lastErrors.get(client)?.message ?? 'none'}). ` +
            "The server was started again (start() or restart()), but this client did not get back to it; cache.describe() gives the pod's events and last log lines.",
          { open: client.isOpen },
        ),
    );
  } finally {
    if (onReady) client.off('ready', onReady);
  }
}

/** Closes politely when the server answers, else drops the socket; never hangs. */
export async function closeNodeRedisClient(
  client: NodeRedisClient,
  timeoutMs = 1000,
): Promise<void> {
  if (!client.isOpen) return;
  if (client.isReady) {
    const closed = await orFallbackAfter(
      client.close().then(
        () => true,
        () => false,
      ),
      timeoutMs,
      () => false,
    );
    if (closed) return;
  }
  if (client.isOpen) client.destroy();
}
