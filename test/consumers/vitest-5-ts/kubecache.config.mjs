import { defineConfig } from 'kubecache/config';

export default defineConfig({
  seeds: { redis: './fixtures/basic.rdb', memcached: './fixtures/memcached.json' },
  timeouts: { podRunningMs: 60_000 },
});
