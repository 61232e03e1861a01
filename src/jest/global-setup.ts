// First: fail with a clear message on a Node too old for the Kubernetes client.
import '../runner/node-version.js';
import type { Session } from '../runner/session.js';

/** The parts of Jest's ProjectConfig this setup reads. */
export interface JestProjectConfig {
  rootDir: string;
  testEnvironmentOptions?: Record<string, unknown>;
}

const SESSIONS = Symbol.for('kubecache.jest.sessions');

/** Sessions opened by globalSetup, closed by globalTeardown; both run in Jest's main process. */
export function jestSessions(): Session[] {
  const g = globalThis as { [SESSIONS]?: Session[] };
  g[SESSIONS] ??= [];
  return g[SESSIONS];
}

/**
 * Jest globalSetup (part of `preset: 'kubecache'`): starts the broker in
 * Jest's main process and exports its address to the environment, which the
 * workers Jest spawns afterwards inherit. Options under
 * testEnvironmentOptions.kubecache override kubecache.config.*.
 */
export default async function globalSetup(
  globalConfig: { maxWorkers?: unknown; detectOpenHandles?: unknown } | undefined,
  projectConfig: JestProjectConfig,
): Promise<void> {
  // Imported here, not at the top: Jest may require() this file, and
  // require() of an ES module graph works only while it has no top-level await.
  const { openSession } = await import('../runner/session.js');
  const runnerOptions = projectConfig.testEnvironmentOptions?.kubecache;
  const session = await openSession({
    root: projectConfig.rootDir,
    ...(runnerOptions !== undefined
      ? { runnerOptions, runnerSource: 'Jest testEnvironmentOptions.kubecache' }
      : {}),
    exportEnv: true,
    // Jest numbers its workers 1..maxWorkers (JEST_WORKER_ID); in band it is 1.
    // --detectOpenHandles runs the tests in band, in one worker.
    workers:
      typeof globalConfig?.maxWorkers === 'number' &&
      globalConfig.maxWorkers > 0 &&
      globalConfig.detectOpenHandles !== true
        ? globalConfig.maxWorkers
        : 1,
  });
  jestSessions().push(session);
}
