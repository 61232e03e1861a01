import type { Redis } from 'ioredis';
import type { EngineDefinition } from '../types.js';
import { closeRedisClient, createRedisClient, flushRedis, redisAccessOptions } from './client.js';
import { debugReload } from './reset.js';
import { applyRedisJsonSeed, loadRedisJsonSeed, type RedisJsonSeed } from './seed.js';
import { redisServer } from './server.js';
import { snapshotRedis } from './snapshot.js';

/** The redis engine: its pod (server.ts) and what a test's handle does through ioredis. */
export const redis: EngineDefinition<Redis, RedisJsonSeed> = {
  ...redisServer,
  clientOps: {
    async connect(endpoint, access) {
      const client = createRedisClient(endpoint, redisAccessOptions(access));
      await client.connect();
      return client;
    },
    close: (client) => closeRedisClient(client),
    loadJsonSeed: loadRedisJsonSeed,
    applyJsonSeed: applyRedisJsonSeed,
    flush: flushRedis,
    // The seeded state goes to the pod's dump.rdb (an RDB seed is that file
    // already), so reset is a DEBUG RELOAD of it.
    async keepSeed(client) {
      await client.call('SAVE');
    },
    restoreSeed: debugReload,
    snapshot: (endpoint, path, access) =>
      snapshotRedis(endpoint, path, {
        timeoutMs: 60_000,
        diskless: true,
        ...(access?.login ? access.login : {}),
        ...(access?.tls ? { tls: access.tls } : {}),
      }),
  },
};
