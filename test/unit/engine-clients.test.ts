import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeMemcachedClient,
  createMemcachedClient,
  flushMemcached,
} from '../../src/engines/memcached/client.js';
import {
  closeRedisClient,
  createRedisClient,
  lastRedisError,
} from '../../src/engines/redis/client.js';
import { ioredisCommander } from '../../src/engines/redis/commander.js';
import { flushRedis } from '../../src/engines/redis/flush.js';
import { isKubecacheError } from '../../src/errors.js';
import {
  closedPort,
  connectionsWithin,
  type LocalServer,
  startMemcached,
  startRedis,
} from './helpers/local-servers.js';

let redisServer: LocalServer;
let memcachedServer: LocalServer;

beforeAll(async () => {
  [redisServer, memcachedServer] = await Promise.all([startRedis(), startMemcached()]);
});

afterAll(async () => {
  await Promise.all([redisServer?.stop(), memcachedServer?.stop()]);
});

describe('createRedisClient', () => {
  it('connects lazily, runs commands and flushes', async () => {
    const client = await createRedisClient(redisServer);
    expect(client.status).toBe('wait');
    try {
      await client.set('greeting', 'hello');
      expect(await client.get('greeting')).toBe('hello');
      await flushRedis(ioredisCommander(client));
      expect(await client.dbsize()).toBe(0);
    } finally {
      await closeRedisClient(client);
    }
    expect(client.status).toBe('end');
  });

  it('applies bounded retries and lets callers add options', async () => {
    const client = await createRedisClient(redisServer, { db: 2, maxRetriesPerRequest: 1 });
    try {
      expect(client.options.lazyConnect).toBe(true);
      expect(client.options.db).toBe(2);
      expect(client.options.maxRetriesPerRequest).toBe(1);
      const retry = client.options.retryStrategy;
      expect(retry?.(1)).toBeGreaterThan(0);
      expect(retry?.(5)).toBeLessThanOrEqual(500);
      expect(retry?.(6)).toBeNull();
    } finally {
      client.disconnect();
    }
  });

  it('keeps reconnecting while an intentional outage lasts', async () => {
    let outage = true;
    const client = await createRedisClient(redisServer, {}, { keepRetrying: () => outage });
    try {
      const retry = client.options.retryStrategy;
      expect(retry?.(50)).toBe(500);
      outage = false;
      expect(retry?.(50)).toBeNull();
    } finally {
      client.disconnect();
    }
  });

  it('defaults to three retries per request', async () => {
    const client = await createRedisClient(redisServer);
    expect(client.options.maxRetriesPerRequest).toBe(3);
    client.disconnect();
  });

  it('records connection errors instead of emitting unhandled ones, then gives up', async () => {
    const port = await closedPort();
    const client = await createRedisClient({ host: '127.0.0.1', port });
    await expect(client.ping()).rejects.toThrow();
    expect(lastRedisError(client)?.message).toMatch(/ECONNREFUSED/);
    await closeRedisClient(client);
    expect(client.status).toBe('end');
    expect(await connectionsWithin(port, 700)).toBe(0);
  });

  it('closes promptly when the server is gone and stops reconnecting', async () => {
    const doomed = await startRedis();
    const client = await createRedisClient(doomed);
    expect(await client.ping()).toBe('PONG');
    await doomed.stop();
    // Issued while the server is down, so it waits in ioredis's offline queue.
    const queued = client.get('never').then(
      () => 'resolved',
      () => 'rejected',
    );
    const started = Date.now();
    await closeRedisClient(client, 300);
    expect(await queued).toBe('rejected');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(client.status).toBe('end');
    // Longer than the largest reconnect backoff: a live retry loop would show up here.
    expect(await connectionsWithin(doomed.port, 700)).toBe(0);
    await expect(client.ping()).rejects.toThrow();
  });

  it('closes a client that never connected', async () => {
    const client = await createRedisClient(redisServer);
    await closeRedisClient(client);
    expect(client.status).toBe('end');
  });

  it('wraps a failed flush in an error that names the endpoint', async () => {
    const port = await closedPort();
    const client = await createRedisClient(
      { host: '127.0.0.1', port },
      { maxRetriesPerRequest: 0 },
    );
    try {
      const err = await flushRedis(ioredisCommander(client)).catch((e: unknown) => e);
      expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
      expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    } finally {
      await closeRedisClient(client);
    }
  });
});

describe('createMemcachedClient', () => {
  it('stores, reads and flushes against a real memcached', async () => {
    const client = createMemcachedClient(memcachedServer);
    try {
      await client.set('k', 'v', { expires: 60 });
      expect((await client.get('k')).value?.toString()).toBe('v');
      await flushMemcached(client);
      expect((await client.get('k')).value).toBeNull();
    } finally {
      await closeMemcachedClient(client);
    }
  });

  it('uses timeouts sized for port-forwarded connections', () => {
    const client = createMemcachedClient(memcachedServer);
    const server = client.servers[0];
    expect(server?.options.timeout).toBe(2);
    expect(server?.options.conntimeout).toBe(4);
    expect(client.options.retries).toBe(2);
    const tuned = createMemcachedClient(memcachedServer, { timeout: 0.5, retries: 0 });
    expect(tuned.servers[0]?.options.timeout).toBe(0.5);
    expect(tuned.options.retries).toBe(0);
    client.close();
    tuned.close();
  });

  it('accepts an IPv6 literal host without mangling it', () => {
    const client = createMemcachedClient({ host: '::1', port: 11311 });
    expect(client.servers[0]?.host).toBe('::1');
    expect(client.servers[0]?.port).toBe(11311);
    client.close();
  });

  it('turns a failed flush into an UNREACHABLE error naming the server', async () => {
    const port = await closedPort();
    const client = createMemcachedClient({ host: '127.0.0.1', port }, { retries: 0 });
    try {
      const err = await flushMemcached(client).catch((e: unknown) => e);
      expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
      expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    } finally {
      await closeMemcachedClient(client);
    }
  });
});
