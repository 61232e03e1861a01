const { useCache } = require('kubecache/jest');
const { record } = require('./record.js');

// client: 'node-redis' in a CommonJS Jest worker: kubecache loads the `redis`
// package only now, through require. The cache gets the config's RDB seed,
// and reset() goes back to it through node-redis.
const cache = useCache('redis', { name: 'node-redis', client: 'node-redis' });

test('the node-redis client reads the RDB seed and writes', async () => {
  record('node-redis.test.js', 'node-redis', cache);
  expect(cache.client.isReady).toBe(true);
  expect(await cache.client.hGet('user:5', 'name')).toBe('ken');
  await cache.client.hSet('scratch', { by: 'node-redis' });
  expect(await cache.client.hGetAll('scratch')).toEqual({ by: 'node-redis' });
});

test('reset went back to the seed through node-redis', async () => {
  expect(await cache.client.exists('scratch')).toBe(0);
  expect(await cache.client.lLen('queue:7')).toBe(4);
});
