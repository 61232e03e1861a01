import { describe, expect, it } from 'vitest';
import { checkOutageRequest } from '../../src/broker/outages.js';
import { loadPeer } from '../../src/engines/redis/load-peer.js';
import { engines } from '../../src/engines/registry.js';
import { isKubecacheError } from '../../src/errors.js';
import { openCache } from '../../src/worker/open-cache.js';
import { startRedis } from './helpers/local-servers.js';

describe('client choice', () => {
  it('lists the clients each engine can hand out, the default first', () => {
    expect(engines.redis.clientOps.clients).toEqual(['ioredis', 'node-redis']);
    expect(engines.valkey.clientOps.clients).toEqual(['ioredis', 'node-redis']);
    expect(engines.memcached.clientOps.clients).toEqual(['memjs']);
  });

  it('refuses a client the engine does not have, before asking for a pod', async () => {
    const err = await openCache('memcached', {
      client: 'node-redis' as never,
    }).catch((e: unknown) => e);
    expect(isKubecacheError(err, 'BAD_OPTION')).toBe(true);
    expect((err as Error).message).toContain('"memjs"');
  });

  it('says which package to install when the chosen client is missing', async () => {
    const missing = 'kubecache-no-such-client';
    const err = await loadPeer(missing, () => import(missing)).catch((e: unknown) => e);
    expect(isKubecacheError(err, 'BAD_OPTION')).toBe(true);
    expect((err as Error).message).toContain(`npm install --save-dev ${missing}`);
  });

  it.each(['ioredis', 'node-redis'] as const)(
    'connects %s to a real redis',
    async (client) => {
      const server = await startRedis();
      const ops = engines.redis.clientOps;
      try {
        const opened = await ops.connect(server, undefined, { client });
        try {
          await ops.flush(opened);
          await ops.applyJsonSeed(opened, await ops.loadJsonSeed('test/fixtures/basic.json'));
          const kept = await ops.captureData?.(opened);
          expect(Array.isArray(kept) && kept.length > 10).toBe(true);
          await ops.flush(opened);
          await ops.restoreData?.(opened, kept);
          expect(await ops.captureData?.(opened)).toHaveLength((kept as unknown[]).length);
          await ops.reconnected?.(opened, 1000);
        } finally {
          await ops.close(opened);
        }
      } finally {
        await server.stop();
      }
      // The first load of a client library is slow on a busy machine.
    },
    30_000,
  );
});

describe('outage requests', () => {
  it('accepts the four actions and a bounded pause', () => {
    for (const action of ['stop', 'start', 'restart'] as const) {
      expect(checkOutageRequest({ action })).toEqual({ action });
    }
    expect(checkOutageRequest({ action: 'pause', ms: 500 })).toEqual({ action: 'pause', ms: 500 });
  });

  it('refuses anything else with BAD_OPTION', () => {
    for (const body of [
      undefined,
      {},
      { action: 'kill' },
      { action: 'pause' },
      { action: 'pause', ms: -1 },
    ]) {
      expect(() => checkOutageRequest(body)).toThrow(/outage needs|pause\(ms\)/);
    }
  });
});
