import type { Redis } from 'ioredis';
import { KubecacheError } from '../errors.js';
import type { MemcachedClient } from './memcached/client.js';
import { memcached } from './memcached/engine.js';
import { redis } from './redis/engine.js';
import { ENGINE_NAMES, type EngineDefinition, type EngineName } from './types.js';

export { memcached } from './memcached/engine.js';
export { redis } from './redis/engine.js';
export type {
  EngineClientOps,
  EngineCommandOptions,
  EngineDefinition,
  EngineName,
  EngineServer,
} from './types.js';
export { ENGINE_NAMES } from './types.js';

/** The client a test gets for each engine. */
export interface EngineClients {
  redis: Redis;
  memcached: MemcachedClient;
}

/** The client type a test gets from useCache(engine). */
// Spelled as a conditional over the names, not EngineClients[E]: TypeScript
// then still sees CacheSlot<'redis'> as a CacheSlot<EngineName>.
export type ClientFor<E extends EngineName> = E extends 'redis'
  ? EngineClients['redis']
  : E extends 'memcached'
    ? EngineClients['memcached']
    : never;

/** Every engine by name: adding one is a folder under src/engines/ and a line here. */
export const engines: Readonly<{ [E in EngineName]: EngineDefinition<EngineClients[E]> }> = {
  redis,
  memcached,
};

export function isEngineName(value: unknown): value is EngineName {
  return typeof value === 'string' && (ENGINE_NAMES as readonly string[]).includes(value);
}

export function getEngine(name: string): EngineDefinition {
  if (!isEngineName(name)) {
    throw new KubecacheError(
      'BAD_OPTION',
      `Unknown cache engine ${JSON.stringify(name)}. Accepted values: ${ENGINE_NAMES.map((n) => `"${n}"`).join(', ')}.`,
      { field: 'engine', value: name, accepted: ENGINE_NAMES },
    );
  }
  return engines[name] as EngineDefinition;
}
