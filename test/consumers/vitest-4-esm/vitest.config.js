import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['kubecache/vitest/global-setup'],
    include: ['test/**/*.test.js'],
    pool: 'threads',
    isolate: false,
    maxWorkers: 4,
    testTimeout: 60_000,
    hookTimeout: 130_000,
  },
});
