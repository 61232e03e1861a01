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
    clients: ['memjs'],
    // memjs and most memcached clients read a "host:port" server list.
    addressEnv: {
      name: 'MEMCACHED_SERVERS',
      value: ({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`,
    },
    async connect(endpoint, access, options) {
      // memjs has no TLS; the broker refuses `tls: true` for memcached before any pod.
      return createMemcachedClient(endpoint, {
        ...((options?.clientOptions ?? {}) as Parameters<typeof createMemcachedClient>[1]),
        ...(access?.login ? { ...access.login } : {}),
      });
    },
    close: closeMemcachedClient,
    loadJsonSeed: loadMemcachedJsonSeed,
    applyJsonSeed: applyMemcachedJsonSeed,
    flush: flushMemcached,
  },
};
