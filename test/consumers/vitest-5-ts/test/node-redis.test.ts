import { useCache } from 'kubecache/vitest';
import { expect, test } from 'vitest';
import { record } from './record.js';

// client: 'node-redis' hands the test a node-redis client (the `redis`
// package), typed as one: hSet/hGetAll/isReady do not exist on ioredis, so
// this file only type-checks if the type follows the option. The cache gets
// the config's RDB seed, and reset() goes back to it through node-redis.
const cache = useCache('redis', { name: 'node-redis', client: 'node-redis' });

test('the node-redis client reads the RDB seed and writes', async () => {
  record('node-redis.test.ts', 'node-redis', cache);
  expect(cache.client.isReady).toBe(true);
  expect(await cache.client.hGet('user:1', 'name')).toBe('ada');
  await cache.client.hSet('scratch', { by: 'node-redis' });
  expect(await cache.client.hGetAll('scratch')).toEqual({ by: 'node-redis' });
  await cache.client.del('user:1');
});

test('reset went back to the seed through node-redis', async () => {
  expect(await cache.client.exists('scratch')).toBe(0);
  expect(await cache.client.hGet('user:1', 'name')).toBe('ada');
});
