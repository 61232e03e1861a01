import { expect } from 'vitest';
import { test } from './fixtures.js';
import { record } from './record.js';

/** The three fixture scopes; the worker-scoped pod is shared by the worker's files and reset between them. */
export function fixtureSuite(file: string): void {
  test('worker-scoped redis starts each file from the seed', async ({ redis }) => {
    record(file, 'default', redis);
    expect(await redis.client.get('left-by-a-file')).toBeNull();
    expect(await redis.client.hget('user:2', 'name')).toBe('grace');
    await redis.client.set('left-by-a-file', file);
  });

  test('worker-scoped redis keeps its data between tests of one file', async ({ redis }) => {
    expect(await redis.client.get('left-by-a-file')).toBe(file);
  });

  test('file-scoped memcached is seeded', async ({ sessions }) => {
    record(file, 'default', sessions);
    expect((await sessions.client.get('session:10')).value?.toString()).toBe('user=radia');
  });

  test('a test-scoped cache without seed starts empty, on its own pod', async ({
    scratch,
    redis,
  }) => {
    record(file, 'scratch', scratch);
    expect(await scratch.client.dbsize()).toBe(0);
    expect(scratch.podName).not.toBe(redis.podName);
    // Locked by default: the URL carries the cache's own password.
    expect(scratch.url).toBe(`redis://:${scratch.password}@${scratch.host}:${scratch.port}`);
    expect(scratch.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await scratch.client.set('mine', '1');
  });

  test('a test-scoped cache is reset for the next test', async ({ scratch }) => {
    expect(await scratch.client.dbsize()).toBe(0);
  });
}
