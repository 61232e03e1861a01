import { withCaches } from 'kubecache/vitest';
import { test as base } from 'vitest';

export const test = withCaches(base, {
  redis: { engine: 'redis', scope: 'worker' },
  sessions: { engine: 'memcached', scope: 'file' },
  scratch: { engine: 'redis', scope: 'test', name: 'scratch', seed: false },
});
