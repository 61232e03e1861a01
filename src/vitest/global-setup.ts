// First: fail with a clear message on a Node too old for the Kubernetes client.
import '../runner/node-version.js';
import type { TestProject } from 'vitest/node';
import type { KubecacheConfig } from '../runner/config-file.js';
import { openSession } from '../runner/session.js';
import './provided.js';

/**
 * Vitest global setup: `globalSetup: ['kubecache/vitest/global-setup']`.
 * Starts the broker in Vitest's main process (or joins the one another
 * project of this run started with the same config) and provides its
 * address to the test workers.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  return setupKubecache(project);
}

/**
 * The same, with options given in code; they override kubecache.config.*
 * and `test.provide.kubecacheOptions`, and env vars override all of them.
 */
export async function setupKubecache(
  project: TestProject,
  options?: KubecacheConfig,
): Promise<() => Promise<void>> {
  const fromConfig = project.config.provide?.kubecacheOptions;
  const runnerOptions =
    fromConfig || options ? { ...(fromConfig ?? {}), ...(options ?? {}) } : undefined;
  const session = await openSession({
    root: project.config.root,
    ...(runnerOptions ? { runnerOptions, runnerSource: 'Vitest kubecache options' } : {}),
    // Also exported to the environment: threads and forks created later
    // inherit it, which covers code that cannot call inject().
    exportEnv: true,
    workers: workerCount(project),
  });
  project.provide('kubecache', session.connection);
  // Watch mode keeps the broker across reruns; pods no test asked for in the
  // previous run (a changed config, a deleted file) would otherwise pile up.
  project.onTestsRerun?.(() => session.rerun());
  return () => session.release();
}

/** Workers Vitest will run: maxWorkers, or 1 when files do not run in parallel. */
function workerCount(project: TestProject): number | undefined {
  const config = (project.vitest?.config ?? project.config) as {
    fileParallelism?: boolean;
    maxWorkers?: unknown;
  };
  if (config.fileParallelism === false) return 1;
  const max = config.maxWorkers;
  return typeof max === 'number' && max > 0 ? Math.floor(max) : undefined;
}
