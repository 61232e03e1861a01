import { useCache, withCaches } from 'kubecache/vitest';
import { test as base, expect } from 'vitest';
import { record } from './record.js';
import { memcachedSeed, redisSeed } from './seeds.js';

const test = withCaches(base, {
  sessions: { engine: 'memcached', scope: 'file', seed: memcachedSeed },
});

/** useCache for redis and a file-scoped fixture for memcached, both seeded per call. */
export function suite(file) {
  const redis = useCache('redis', { seed: redisSeed });

  test('redis is seeded and clean', async () => {
    record(file, 'default', redis);
    expect(await redis.client.exists('written')).toBe(0);
    expect(await redis.client.smembers('tags:1')).toEqual(
      expect.arrayContaining(['tag-1', 'tag-2', 'tag-3']),
    );
    await redis.client.set('written', file);
  });

  test('redis is reset before the next test', async () => {
    expect(await redis.client.exists('written')).toBe(0);
    expect(await redis.client.hgetall('user:4')).toEqual({
      name: 'margaret',
      id: '4',
      role: 'admin',
    });
  });

  test('the file-scoped memcached fixture is seeded', async ({ sessions }) => {
    record(file, 'default', sessions);
    expect((await sessions.client.get('config:feature-flags')).value?.toString()).toBe(
      '{"newCheckout": true, "beta": false}',
    );
    await sessions.client.set(`seen-by-${file}`, '1', {});
  });

  test('file scope keeps data between the tests of a file', async ({ sessions }) => {
    expect((await sessions.client.get(`seen-by-${file}`)).value?.toString()).toBe('1');
  });
}
