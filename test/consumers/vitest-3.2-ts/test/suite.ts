import { useCache } from 'kubecache/vitest';
import { expect } from 'vitest';
import { test } from './fixtures.js';
import { record } from './record.js';

/**
 * Worker-scoped fixtures for both engines, seeded by kubecache.config.ts,
 * plus one useCache cache with its own name that is reset only per file.
 */
export function suite(file: string): void {
  const counters = useCache('redis', { name: 'counters', seed: false, reset: 'file' });

  test('redis comes seeded from basic.rdb', async ({ redis }) => {
    record(file, 'default', redis);
    expect(await redis.client.get('left-by-a-file')).toBeNull();
    expect(await redis.client.get('string:1')).toBe('hello ada');
    expect(await redis.client.zscore('leaderboard:1', 'grace')).toBe('11');
    await redis.client.set('left-by-a-file', file);
  });

  test('memcached comes seeded from memcached.json', async ({ memcached }) => {
    record(file, 'default', memcached);
    expect((await memcached.client.get('session:7')).value?.toString()).toBe('user=dennis');
  });

  test('a reset puts the seed back', async ({ redis }) => {
    await redis.client.flushall();
    await redis.reset();
    expect(await redis.client.hget('user:3', 'name')).toBe('linus');
  });

  test('reset: "file" keeps data between the tests of a file', async () => {
    record(file, 'counters', counters);
    expect(await counters.client.incr('hits')).toBe(1);
    expect(counters.podName).toMatch(/^kc-redis-/);
  });

  test('...and the next test sees it', async () => {
    expect(await counters.client.incr('hits')).toBe(2);
  });
}
