import { defineConfig } from 'vitest/config';

// KUBECACHE_CONSUMER_MODE picks a special file: "fail" (a deliberately failing
// test) or "hang" (a test that waits to be interrupted).
const mode = process.env.KUBECACHE_CONSUMER_MODE;

export default defineConfig({
  test: {
    globalSetup: ['kubecache/vitest/global-setup'],
    include: mode ? [`special/${mode}.test.ts`] : ['test/**/*.test.ts'],
    pool: 'forks',
    isolate: false,
    maxWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 130_000,
    // Runner options: they override kubecache.config.mjs.
    provide: { kubecacheOptions: { timeouts: { podRunningMs: 90_000 } } },
  },
});
