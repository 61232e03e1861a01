import { fileURLToPath } from 'node:url';

// No kubecache.config file here: every cache names its seed itself.
export const redisSeed = {
  kind: 'rdb',
  path: fileURLToPath(new URL('../fixtures/basic.rdb', import.meta.url)),
};
export const memcachedSeed = new URL('../fixtures/memcached.json', import.meta.url);
