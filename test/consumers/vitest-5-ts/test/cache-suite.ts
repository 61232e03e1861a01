import { useCache } from 'kubecache/vitest';
import { expect, test } from 'vitest';
import { record } from './record.js';

/** Both engines through useCache: seeded by kubecache.config.mjs, reset before every test. */
export function cacheSuite(file: string): void {
  const redis = useCache('redis');
  const memcached = useCache('memcached');

  test('redis starts from the RDB seed, with nothing left by other files', async () => {
    record(file, 'default', redis);
    expect(await redis.client.get('scratch')).toBeNull();
    expect(await redis.client.hget('user:1', 'name')).toBe('ada');
    expect(await redis.client.lrange('queue:2', 0, -1)).toEqual(['job-2-1', 'job-2-2', 'job-2-3']);
    await redis.client.set('scratch', file);
    await redis.client.del('user:1');
  });

  test('redis is back at the seed in the next test', async () => {
    expect(await redis.client.get('scratch')).toBeNull();
    expect(await redis.client.hget('user:1', 'name')).toBe('ada');
  });

  test('memcached starts from the JSON seed', async () => {
    record(file, 'default', memcached);
    const { value } = await memcached.client.get('session:1');
    expect(value?.toString()).toBe('user=ada');
    await memcached.client.set('scratch', file, {});
  });

  test('memcached is back at the seed in the next test', async () => {
    expect((await memcached.client.get('scratch')).value).toBeNull();
    expect((await memcached.client.get('session:4')).value?.toString()).toBe('user=margaret');
  });
}
