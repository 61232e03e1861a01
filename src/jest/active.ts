import type { RedisClientKind } from '../engines/registry.js';
import type { EngineName } from '../engines/types.js';
import type { CacheSlot } from '../worker/cache-slot.js';

/** A slot of any engine and client, for the per-file and per-worker registries. */
type AnySlot = CacheSlot<EngineName, RedisClientKind>;

// The caches a test file has open, kept on the test's global object so the
// test environment (loaded outside the file's module registry) can name them
// when a test fails. Symbol.for: the ESM and CommonJS builds share it.
export const ACTIVE_CACHES = Symbol.for('kubecache.jest.activeCaches');

type Holder = { [ACTIVE_CACHES]?: Set<AnySlot> };

export function activeCaches(global: object = globalThis): Set<AnySlot> {
  const holder = global as Holder;
  holder[ACTIVE_CACHES] ??= new Set();
  return holder[ACTIVE_CACHES];
}
