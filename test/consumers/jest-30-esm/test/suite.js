import { expect, test } from '@jest/globals';
import { useCache } from 'kubecache/jest';
import { record } from './record.js';

/** Both engines, seeded through testEnvironmentOptions.kubecache. */
export function suite(file) {
  const redis = useCache('redis');
  const memcached = useCache('memcached');
  const scratch = useCache('memcached', { name: 'scratch', seed: false, reset: 'file' });

  test('redis starts from the RDB seed, with nothing left by other files', async () => {
    record(file, 'default', redis);
    expect(await redis.client.get('scratch')).toBeNull();
    expect(await redis.client.zrange('leaderboard:2', 0, -1)).toEqual(['ada', 'grace', 'linus']);
    await redis.client.set('scratch', file);
  });

  test('redis is back at the seed in the next test', async () => {
    expect(await redis.client.get('scratch')).toBeNull();
  });

  test('memcached starts from the JSON seed', async () => {
    record(file, 'default', memcached);
    expect((await memcached.client.get('session:10')).value?.toString()).toBe('user=radia');
  });

  test('an unseeded cache with reset: "file" keeps data between tests', async () => {
    record(file, 'scratch', scratch);
    expect((await scratch.client.get('session:10')).value).toBeNull();
    await scratch.client.set('count', '1', {});
  });

  test('...which the next test of the file still sees', async () => {
    expect((await scratch.client.get('count')).value?.toString()).toBe('1');
  });
}
