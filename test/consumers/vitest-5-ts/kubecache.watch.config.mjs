import { defineConfig } from 'kubecache/config';

// The watch-mode test counts the pods each rerun holds: no prestart here, so
// the count is only what the files use (prestart has its own tests).
export default defineConfig({
  seeds: { redis: './fixtures/basic.rdb', memcached: './fixtures/memcached.json' },
  timeouts: { podRunningMs: 60_000 },
  prestart: false,
});
