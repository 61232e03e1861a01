import { type CacheFixtureValues, cacheFixtures } from 'kubecache/vitest';
import { test as base } from 'vitest';

const caches = {
  redis: { engine: 'redis', scope: 'worker' },
  memcached: { engine: 'memcached', scope: 'worker' },
} as const;

export const test = base.extend<CacheFixtureValues<typeof caches>>(cacheFixtures(caches));
