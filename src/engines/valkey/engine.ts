import { type RedisFamilyClient, redisClientOps } from '../redis/engine.js';
import type { RedisJsonSeed } from '../redis/seed.js';
import type { EngineDefinition } from '../types.js';
import { valkeyServer } from './server.js';

/** The Valkey engine: its own pod spec, the redis protocol's client operations. */
export const valkey: EngineDefinition<RedisFamilyClient, RedisJsonSeed> = {
  ...valkeyServer,
  clientOps: redisClientOps,
};
