import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // Real pods take a while to pull and start.
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Files share one cluster and namespace; running them one at a time
          // keeps quota and cleanup assertions predictable.
          fileParallelism: false,
        },
      },
    ],
  },
});
