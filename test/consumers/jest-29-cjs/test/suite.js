const { useCache } = require('kubecache/jest');
const { record } = require('./record.js');

/** Both engines, seeded by kubecache.config.json and reset before every test. */
function suite(file) {
  const redis = useCache('redis');
  const memcached = useCache('memcached');

  test('redis starts from the RDB seed, with nothing left by other files', async () => {
    record(file, 'default', redis);
    expect(await redis.client.get('scratch')).toBeNull();
    expect(await redis.client.hget('user:5', 'name')).toBe('ken');
    await redis.client.set('scratch', file);
  });

  test('redis is back at the seed in the next test', async () => {
    expect(await redis.client.get('scratch')).toBeNull();
    expect(await redis.client.llen('queue:7')).toBe(4);
  });

  test('memcached starts from the JSON seed', async () => {
    record(file, 'default', memcached);
    const { value } = await memcached.client.get('session:2');
    expect(value?.toString()).toBe('user=grace');
    await memcached.client.set('scratch', file, {});
  });

  test('memcached is back at the seed in the next test', async () => {
    expect((await memcached.client.get('scratch')).value).toBeNull();
  });
}

module.exports = { suite };
