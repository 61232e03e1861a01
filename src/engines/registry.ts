import type { Redis, RedisOptions } from 'ioredis';
import type memjs from 'memjs';
import { KubecacheError } from '../errors.js';
import type { MemcachedClient } from './memcached/client.js';
import { memcached } from './memcached/engine.js';
import type { NodeRedisClient } from './redis/commander.js';
import { type RedisClientKind, redis } from './redis/engine.js';
import { ENGINE_NAMES, type EngineDefinition, type EngineName } from './types.js';
import { valkey } from './valkey/engine.js';

export { memcached } from './memcached/engine.js';
export type { NodeRedisClient } from './redis/commander.js';
/** The client libraries a test can choose for redis and valkey (`client` option). */
export type { RedisClientKind } from './redis/engine.js';
export { redis } from './redis/engine.js';
export type {
  EngineClientOps,
  EngineCommandOptions,
  EngineDefinition,
  EngineName,
  EngineServer,
} from './types.js';
export { ENGINE_NAMES } from './types.js';
export { valkey } from './valkey/engine.js';

/**
 * The client type a test gets from useCache(engine, {client}): memjs for
 * memcached; ioredis (the default) or node-redis for redis and valkey.
 * Spelled as conditionals, not a lookup table: TypeScript then still sees
 * CacheSlot<'redis'> as a CacheSlot<EngineName>.
 */
export type ClientFor<
  E extends EngineName,
  K extends RedisClientKind = 'ioredis',
> = E extends 'memcached' ? MemcachedClient : K extends 'node-redis' ? NodeRedisClient : Redis;

/** Options passed through to the client: ioredis's RedisOptions or memjs's client options. */
export type ClientOptionsFor<E extends EngineName> = E extends 'redis' | 'valkey'
  ? Omit<RedisOptions, 'host' | 'port'>
  : memjs.ClientOptions & memjs.ServerOptions;

/** The second argument of a handle's snapshot(path, options). */
export interface SnapshotOptions {
  /**
   * Limit for the whole transfer, connection included, in milliseconds
   * (default 60000): raise it for a large dataset or a slow port-forward.
   */
  timeoutMs?: number;
}

/** What snapshot() is on a handle: redis and valkey only, so a memcached handle has none to call. */
export type SnapshotFor<E extends EngineName> = E extends 'redis' | 'valkey'
  ? (path: string, options?: SnapshotOptions) => Promise<{ bytes: number; rdbVersion: number }>
  : never;

/** Every engine by name: adding one is a folder under src/engines/ and a line here. */
export const engines: Readonly<Record<EngineName, EngineDefinition>> = {
  redis,
  memcached,
  valkey,
} as Readonly<Record<EngineName, EngineDefinition>>;

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
  return engines[name];
}
