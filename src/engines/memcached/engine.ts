import type { EngineDefinition } from '../types.js';
import {
  closeMemcachedClient,
  createMemcachedClient,
  flushMemcached,
  type MemcachedClient,
} from './client.js';
import { applyMemcachedJsonSeed, loadMemcachedJsonSeed, type MemcachedJsonSeed } from './seed.js';
import { memcachedServer } from './server.js';

/**
 * The memcached engine: no dump format, so no RDB seed and no snapshot; a
 * reset flushes and applies the seed again.
 */
export const memcached: EngineDefinition<MemcachedClient, MemcachedJsonSeed> = {
  ...memcachedServer,
  clientOps: {
    async connect(endpoint) {
      return createMemcachedClient(endpoint);
    },
    close: closeMemcachedClient,
    loadJsonSeed: loadMemcachedJsonSeed,
    applyJsonSeed: applyMemcachedJsonSeed,
    flush: flushMemcached,
  },
};
