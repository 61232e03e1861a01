import { afterAll, beforeAll, beforeEach } from '@jest/globals';
import { readWorkerId } from '../config/env.js';
import type { RedisClientKind } from '../engines/registry.js';
import type { EngineName } from '../engines/types.js';
import {
  callSite,
  prefetchedFileSlot,
  type UseCacheOptions,
  type UsedCache,
} from '../worker/cache-slot.js';
import { type Connection, connectionFromEnv, missingBroker } from '../worker/connection.js';
import { activeCaches } from './active.js';

// Runs inside Jest's test workers, CommonJS or ESM: nothing here may load the
// broker or @kubernetes/client-node.

export type { CacheLease, SeedRequest } from '../broker/types.js';
export type { CacheOptions } from '../config/options.js';
export type { MemcachedClient } from '../engines/memcached/client.js';
export type { EngineName } from '../engines/types.js';
export { isKubecacheError, KubecacheError } from '../errors.js';
export type { KubecacheConfig } from '../runner/config-file.js';
export type { PodDescription, UseCacheOptions, UsedCache } from '../worker/cache-slot.js';
export type { ClientFor, SeedFunction, SnapshotOptions } from '../worker/open-cache.js';
export { CachePodReport } from '../worker/report.js';
export type { SeedInput } from '../worker/seed-input.js';

/** Reset caches before every test (default) or only when the file starts. */
export interface JestUseCacheOptions<
  E extends EngineName = EngineName,
  K extends RedisClientKind = 'ioredis',
> extends UseCacheOptions<E, K> {
  reset?: 'test' | 'file';
}

function workerId(): string {
  return readWorkerId(process.env, 'jest');
}

function connection(): Connection {
  const found = connectionFromEnv();
  if (!found) throw missingBroker('jest');
  return found;
}

/**
 * Gives the test file (or describe block) a cache: the pod is acquired in
 * beforeAll, reset before each test (or only once, with reset: 'file'), and
 * the client is closed in afterAll. Pods are kept per Jest worker
 * (JEST_WORKER_ID), so the worker's next file reuses the pod after a reset.
 */
export function useCache<E extends EngineName, K extends RedisClientKind = 'ioredis'>(
  engine: E,
  options: JestUseCacheOptions<E, K> = {},
): UsedCache<E, K> {
  const { slot, timeout } = prefetchedFileSlot(
    engine,
    options,
    callSite(useCache),
    connection,
    workerId,
  );
  beforeAll(async () => {
    await slot.open(connection(), workerId());
    activeCaches().add(slot);
  }, timeout);
  beforeEach(async () => {
    if (options.reset === 'file') slot.markUsed();
    else await slot.prepare();
  });
  afterAll(async () => {
    activeCaches().delete(slot);
    await slot.close();
  });
  return slot;
}
