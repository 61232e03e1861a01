import { useCache } from 'kubecache/vitest';
import { test } from 'vitest';
import { record } from '../test/record.js';

const redis = useCache('redis');
const memcached = useCache('memcached');

// Run only with KUBECACHE_CONSUMER_MODE=hang: waits, with its pods up, to be interrupted.
test('waits to be interrupted', async () => {
  record('hang.test.ts', 'default', redis);
  record('hang.test.ts', 'default', memcached);
  await new Promise(() => {});
}, 600_000);
