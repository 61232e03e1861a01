import { ENV_BROKER_URL, readBrokerVars } from '../config/env.js';
import type { EngineName } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import type { SeedRequest } from './protocol.js';

// Worker side: must stay loadable by Jest's CommonJS workers, so nothing here
// may import the broker or @kubernetes/client-node.

export { ENV_BROKER_SEEDS } from '../config/env.js';

/** What the runner's global setup hands to test workers; plain JSON. */
export interface Connection {
  url: string;
  token: string;
  /** Default seed per engine, from the config file, runner options or env. */
  seeds: Partial<Record<EngineName, SeedRequest>>;
  runId?: string;
  namespace?: string;
}

export function connectionFromEnv(env: NodeJS.ProcessEnv = process.env): Connection | undefined {
  const vars = readBrokerVars(env);
  if (vars === undefined) return undefined;
  // The runner's own JSON (runner/session.ts), so its shape is trusted.
  return { url: vars.url, token: vars.token, seeds: vars.seeds as Connection['seeds'] };
}

export function missingBroker(runner: 'vitest' | 'jest'): KubecacheError {
  const fix =
    runner === 'vitest'
      ? "add globalSetup: ['kubecache/vitest/global-setup'] to the test config"
      : "add preset: 'kubecache' to the Jest config (or its globalSetup, globalTeardown and testEnvironment)";
  return new KubecacheError(
    'BROKER',
    `no kubecache broker is running for this test run (${ENV_BROKER_URL} is not set): ${fix}.`,
  );
}
