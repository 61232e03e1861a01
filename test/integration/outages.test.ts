import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.js';
import type { BrokerClient } from '../../src/worker/broker-client.js';
import { type CacheHandle, openCache } from '../../src/worker/open-cache.js';
import { brokerInNamespace } from '../support/broker-in-namespace.js';
import { rejection } from '../support/errors.js';

// Each outage helper is a real fault on a real pod, seen by an application's
// own ioredis client (default settings: it reconnects forever), which must
// recover without being recreated.

const NS = 'kc-outages';
const here = dirname(fileURLToPath(import.meta.url));
const basicJson = resolve(here, '../fixtures/basic.json');
const memcachedJson = resolve(here, '../fixtures/memcached.json');

/**
 * An application's client: ioredis defaults, with the events it went through.
 * `url` carries the cache's password (caches are locked by default).
 */
function appClient(cache: { url: string }, extra: object = {}) {
  const client = new Redis(cache.url, extra);
  const events: string[] = [];
  for (const event of ['close', 'reconnecting', 'ready', 'error'] as const) {
    client.on(event, () => events.push(event));
  }
  return { client, events };
}

/** The server process's run_id; throws when INFO has none, so two misses never compare equal. */
async function runId(client: Redis): Promise<string> {
  const info = await client.info('server');
  const id = /run_id:(\w+)/.exec(info)?.[1];
  if (!id) throw new Error(`INFO server has no run_id:\n${info}`);
  return id;
}

/** Retries until the client answers (it reconnects on its own); bounded. */
async function answersAgain(client: Redis): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      return await client.ping();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw last;
}

describe('outage helpers on the dev cluster', () => {
  const namespaceBroker = brokerInNamespace(NS);
  let broker: Broker;
  let brokerClient: BrokerClient;

  beforeAll(async () => {
    ({ broker, client: brokerClient } = await namespaceBroker.start());
  });

  afterAll(() => namespaceBroker.stop());

  describe('redis seeded from JSON', () => {
    let cache: CacheHandle<'redis'>;
    beforeAll(async () => {
      cache = await openCache('redis', {
        broker: brokerClient,
        worker: 'outage',
        seed: { kind: 'json', path: basicJson },
      });
    });
    afterAll(async () => {
      await cache?.close();
    });

    it('stop(): the port refuses until start(), then both clients work and the seed is back', async () => {
      // One retry per command keeps the failing read short; reconnects still go on forever.
      const app = appClient(cache, { maxRetriesPerRequest: 1 });
      try {
        await app.client.set('written', 'before');
        await cache.stop();
        expect(await broker.status(cache.lease.id)).toMatchObject({
          state: 'ready',
          outage: 'stopped',
        });
        // A fresh connection is refused; the app's client loses its connection.
        const fresh = new Redis({
          host: cache.host,
          port: cache.port,
          lazyConnect: true,
          retryStrategy: () => null,
          maxRetriesPerRequest: 0,
        });
        fresh.on('error', () => {});
        await expect(fresh.connect()).rejects.toThrow();
        fresh.disconnect();
        await expect(app.client.get('user:1')).rejects.toThrow();
        expect(app.events).toContain('close');
        await expect(cache.client.get('user:1')).rejects.toThrow();

        await cache.start();
        expect((await broker.status(cache.lease.id)).outage).toBeUndefined();
        expect(await answersAgain(app.client)).toBe('PONG');
        expect(app.events.lastIndexOf('ready')).toBeGreaterThan(app.events.indexOf('close'));
        // The server came back from the seed: the write is gone, the seed is there.
        expect(await app.client.get('written')).toBeNull();
        expect(await cache.client.hget('user:1', 'name')).toBe('ada');
        // reset() still returns to the seed afterwards.
        await cache.client.set('written', 'again');
        await cache.reset();
        expect(await cache.client.get('written')).toBeNull();
      } finally {
        app.client.disconnect();
      }
    });

    it('restart({keepData: true}): a new server process, the same dataset, both clients recover', async () => {
      const app = appClient(cache);
      try {
        await app.client.set('kept', 'yes');
        const before = await runId(app.client);
        await cache.restart({ keepData: true });
        expect(await answersAgain(app.client)).toBe('PONG');
        expect(await runId(app.client)).not.toBe(before);
        expect(app.events).toContain('close');
        expect(await app.client.get('kept')).toBe('yes');
        expect(await cache.client.get('kept')).toBe('yes');
        // The seed on disk is untouched: reset() goes back to it, not to the kept data.
        await cache.reset();
        expect(await cache.client.get('kept')).toBeNull();
        expect(await cache.client.hget('user:1', 'name')).toBe('ada');
      } finally {
        app.client.disconnect();
      }
    });

    it('restart(): a new server process that comes back with the seed', async () => {
      const app = appClient(cache);
      try {
        await app.client.set('lost', 'yes');
        const before = await runId(app.client);
        await cache.restart();
        expect(await answersAgain(app.client)).toBe('PONG');
        expect(await runId(app.client)).not.toBe(before);
        expect(await app.client.get('lost')).toBeNull();
        expect(await app.client.hget('user:1', 'name')).toBe('ada');
      } finally {
        app.client.disconnect();
      }
    });

    it('pause(ms): the connection stays open but nothing answers, then the same server answers', async () => {
      // A command timeout is how an application notices a frozen server.
      const app = appClient(cache, { commandTimeout: 300 });
      try {
        const before = await runId(app.client);
        await cache.pause(3000);
        await expect(app.client.get('user:1')).rejects.toThrow(/timed out/i);
        expect(app.events).not.toContain('close');
        expect(await answersAgain(app.client)).toBe('PONG');
        expect(await runId(app.client)).toBe(before);
        expect(app.events).not.toContain('close');
      } finally {
        app.client.disconnect();
      }
    });

    it('refuses a pause without a sensible duration, before touching the pod', async () => {
      const err = await rejection(cache.pause(0));
      expect(err.code).toBe('BAD_OPTION');
      expect(await cache.client.ping()).toBe('PONG');
    });
  });

  it('valkey over a port-forward: restart() drops the tunnelled connection and the client recovers through it', async () => {
    const cache = await openCache('valkey', {
      broker: brokerClient,
      worker: 'outage-pf',
      options: { endpoint: 'port-forward' },
    });
    const app = appClient(cache);
    try {
      await app.client.set('k', 'v');
      const before = await runId(app.client);
      await cache.restart();
      expect(await answersAgain(app.client)).toBe('PONG');
      expect(await runId(app.client)).not.toBe(before);
      expect(await app.client.get('k')).toBeNull();
    } finally {
      app.client.disconnect();
      await cache.close();
    }
  });

  it('memcached with SASL: stop() makes reads fail, start() brings the JSON seed back; keepData is refused', async () => {
    // auth: the supervisor runs inside the SASL setup step of the container's command.
    const cache = await openCache('memcached', {
      broker: brokerClient,
      worker: 'outage-mc',
      options: { auth: true },
      seed: { kind: 'json', path: memcachedJson },
    });
    try {
      await cache.client.set('scratch', 'x', {});
      await cache.stop();
      await expect(cache.client.get('session:1')).rejects.toThrow();
      await cache.start();
      expect((await cache.client.get('session:1')).value?.toString()).toBe('user=ada');
      expect((await cache.client.get('scratch')).value).toBeNull();
      const err = await rejection(cache.restart({ keepData: true }));
      expect(err.code).toBe('BAD_OPTION');
      expect(err.message).toContain('keepData');
      // pause freezes memcached too: memjs times out (2 s, 2 retries), then the server answers again.
      await cache.pause(8000);
      await expect(cache.client.get('session:1')).rejects.toThrow();
      let value: string | undefined;
      for (let i = 0; i < 50 && value === undefined; i++) {
        value = await cache.client.get('session:1').then(
          (r) => r.value?.toString(),
          () => undefined,
        );
      }
      expect(value).toBe('user=ada');
    } finally {
      await cache.close();
    }
  });

  it('a cache left stopped is started again by reset()', async () => {
    const cache = await openCache('redis', { broker: brokerClient, worker: 'outage-left' });
    try {
      await cache.stop();
      await cache.reset();
      expect(await cache.client.ping()).toBe('PONG');
    } finally {
      await cache.close();
    }
  });

  it('answers for a lease that does not exist with a BROKER error', async () => {
    const err = await rejection(brokerClient.outage('0123456789abcdef', { action: 'stop' }));
    expect(err.code).toBe('BROKER');
    expect(err.message).toContain('0123456789abcdef');
  });
});
