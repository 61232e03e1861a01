import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['kubecache/vitest/global-setup'],
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    isolate: true,
    maxWorkers: 4,
    minWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 130_000,
  },
});
