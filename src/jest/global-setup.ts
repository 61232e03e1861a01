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
  _globalConfig: unknown,
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
  });
  jestSessions().push(session);
}
