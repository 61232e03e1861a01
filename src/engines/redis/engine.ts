import type { Redis, RedisOptions } from 'ioredis';
import { KubecacheError } from '../../errors.js';
import type { EngineClientOps, EngineDefinition } from '../types.js';
import { closeRedisClient, createRedisClient, redisAccessOptions, redisReady } from './client.js';
import { ioredisCommander, type NodeRedisClient, type RespCommander } from './commander.js';
import { flushRedis } from './flush.js';
import {
  closeNodeRedisClient,
  createNodeRedisClient,
  nodeRedisReady,
} from './node-redis-client.js';
import { captureDumps, type DumpedKey, debugReload, restoreDumps } from './reset.js';
import { applyRedisJsonSeed, loadRedisJsonSeed, type RedisJsonSeed } from './seed.js';
import { redisServer } from './server.js';
import { snapshotRedis } from './snapshot.js';

/** The clients a redis-protocol cache can hand to tests; the first is the default. */
export const REDIS_CLIENTS = ['ioredis', 'node-redis'] as const;
export type RedisClientKind = (typeof REDIS_CLIENTS)[number];
export type RedisFamilyClient = Redis | NodeRedisClient;

interface Opened {
  kind: RedisClientKind;
  resp: RespCommander;
}

// kubecache's own seed/reset commands go through the test's client, whichever it is.
const opened = new WeakMap<object, Opened>();

function openedOf(client: RedisFamilyClient): Opened {
  const found = opened.get(client);
  if (!found) {
    throw new KubecacheError('INTERNAL', 'this redis client was not opened by kubecache.');
  }
  return found;
}

/** What a test's handle does through ioredis or node-redis; shared by redis and valkey. */
export const redisClientOps: EngineClientOps<RedisFamilyClient, RedisJsonSeed> = {
  clients: REDIS_CLIENTS,
  addressEnv: { name: 'REDIS_URL', value: (cache) => cache.url },
  async connect(endpoint, access, options = {}) {
    if (options.client === 'node-redis') {
      const { client, resp } = await createNodeRedisClient(endpoint, access, options.hooks);
      opened.set(client, { kind: 'node-redis', resp });
      return client;
    }
    // The user's client options first; access (auth, TLS) must win over them.
    const client = await createRedisClient(
      endpoint,
      { ...((options.clientOptions ?? {}) as RedisOptions), ...redisAccessOptions(access) },
      options.hooks,
    );
    opened.set(client, { kind: 'ioredis', resp: ioredisCommander(client) });
    await client.connect();
    return client;
  },
  close: (client) =>
    openedOf(client).kind === 'node-redis'
      ? closeNodeRedisClient(client as NodeRedisClient)
      : closeRedisClient(client as Redis),
  reconnected: (client, timeoutMs) =>
    openedOf(client).kind === 'node-redis'
      ? nodeRedisReady(client as NodeRedisClient, timeoutMs)
      : redisReady(client as Redis, timeoutMs),
  captureData: (client) => captureDumps(openedOf(client).resp),
  restoreData: (client, data) => restoreDumps(openedOf(client).resp, data as DumpedKey[]),
  loadJsonSeed: loadRedisJsonSeed,
  applyJsonSeed: (client, seed) => applyRedisJsonSeed(openedOf(client).resp, seed),
  flush: (client) => flushRedis(openedOf(client).resp),
  // An RDB seed is the file redis started from, so its reset is a DEBUG
  // RELOAD of it. JSON and function seeds are written again instead (a
  // reload would bring back their TTLs as absolute times, long expired).
  restoreSeed: (client) => debugReload(openedOf(client).resp),
  snapshot: (endpoint, path, { timeoutMs, access, raiseTimeout }) =>
    snapshotRedis(endpoint, path, {
      timeoutMs,
      diskless: true,
      ...(access?.login ? access.login : {}),
      ...(access?.tls ? { tls: access.tls } : {}),
      ...(raiseTimeout ? { raiseTimeout } : {}),
    }),
};

/** The redis engine: its pod (server.ts) and the redis-protocol client operations. */
export const redis: EngineDefinition<RedisFamilyClient, RedisJsonSeed> = {
  ...redisServer,
  clientOps: redisClientOps,
};
