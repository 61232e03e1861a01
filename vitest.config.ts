import { defineConfig } from 'vitest/config';

// The chaos project kills and stops the shared dev cluster's API server, so it
// exists only when asked for by name (`vitest run --project chaos`, as
// test/tools/test.sh does after unit and integration); a bare `vitest run`
// never starts it.
const chaosRequested = process.argv.slice(2).some((a) => a.includes('chaos'));

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
      ...(chaosRequested ? [chaosProject()] : []),
    ],
  },
});

function chaosProject() {
  return {
    test: {
      // Fault injection against the shared dev cluster (kills and stops the
      // API server): run alone, after unit and integration (test.sh runs
      // it as a second vitest run), one file at a time.
      name: 'chaos',
      include: ['test/chaos/**/*.test.ts'],
      environment: 'node',
      globalSetup: ['test/chaos/global-setup.ts'],
      testTimeout: 240_000,
      hookTimeout: 240_000,
      fileParallelism: false,
      sequence: { concurrent: false },
      // Scenario 9 measures what the runner retains: with a forced GC the
      // RSS figure is live memory, not heap the collector has not given back.
      execArgv: ['--expose-gc'],
    },
  };
}
