import { expect, test } from '@jest/globals';
import { useCache } from 'kubecache/jest';
import { record } from '../test/record.js';

const redis = useCache('redis', { seed: false });

// Run only with KUBECACHE_CONSUMER_MODE=fail: its output must name the pod and show its logs.
test('deliberately fails', async () => {
  record('fail.test.js', 'default', redis);
  await redis.client.set('answer', '41');
  expect(await redis.client.get('answer')).toBe('42');
});
