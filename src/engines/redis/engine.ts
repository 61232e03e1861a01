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
    // An RDB seed is the file redis started from, so its reset is a DEBUG
    // RELOAD of it. JSON and function seeds are written again instead (a
    // reload would bring back their TTLs as absolute times, long expired).
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
