import { type RedisFamilyClient, redisClientOps } from '../redis/engine.js';
import type { RedisJsonSeed } from '../redis/seed.js';
import type { EngineDefinition } from '../types.js';
import { valkeyServer } from './server.js';

/** The Valkey engine: its own pod spec, the redis protocol's client operations. */
export const valkey: EngineDefinition<RedisFamilyClient, RedisJsonSeed> = {
  ...valkeyServer,
  // Valkey clients take redis:// URLs; its own variable keeps a file that
  // uses both engines from overwriting one address with the other.
  clientOps: {
    ...redisClientOps,
    addressEnv: { name: 'VALKEY_URL', value: (cache) => cache.url },
  },
};
