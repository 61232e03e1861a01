import type { Redis } from 'ioredis';
import { redis } from '../redis/engine.js';
import type { RedisJsonSeed } from '../redis/seed.js';
import type { EngineDefinition } from '../types.js';
import { valkeyServer } from './server.js';

/** The Valkey engine: its own pod spec, the redis protocol's client operations. */
export const valkey: EngineDefinition<Redis, RedisJsonSeed> = {
  ...valkeyServer,
  clientOps: redis.clientOps,
};
