import { KubecacheError } from '../errors.js';
import { memcached } from './memcached.js';
import { redis } from './redis.js';
import { ENGINE_NAMES, type EngineDefinition, type EngineName } from './types.js';

export { memcached } from './memcached.js';
export { redis } from './redis.js';
export type { EngineCommandOptions, EngineDefinition, EngineName } from './types.js';
export { ENGINE_NAMES } from './types.js';

export const engines: Readonly<Record<EngineName, EngineDefinition>> = { redis, memcached };

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
