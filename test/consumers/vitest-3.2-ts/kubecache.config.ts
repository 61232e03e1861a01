import { defineConfig } from 'kubecache/config';

// Loaded by Node's own TypeScript support (type stripping).
export default defineConfig({
  seeds: {
    redis: { kind: 'rdb', path: './fixtures/basic.rdb' },
    memcached: { kind: 'json', path: './fixtures/memcached.json' },
  },
  endpoint: 'auto',
  timeouts: { podRunningMs: 90_000 },
});
