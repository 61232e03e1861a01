import type { EngineName } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import { ENV_BROKER_TOKEN, ENV_BROKER_URL } from './broker-client.js';
import type { SeedRequest } from './protocol.js';

// Worker side: must stay loadable by Jest's CommonJS workers, so nothing here
// may import the broker or @kubernetes/client-node.

export const ENV_BROKER_SEEDS = 'KUBECACHE_BROKER_SEEDS';

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
  const url = env[ENV_BROKER_URL];
  const token = env[ENV_BROKER_TOKEN];
  if (!url || !token) return undefined;
  let seeds: Connection['seeds'] = {};
  const raw = env[ENV_BROKER_SEEDS];
  if (raw) {
    try {
      seeds = JSON.parse(raw) as Connection['seeds'];
    } catch {
      throw new KubecacheError(
        'BROKER',
        `${ENV_BROKER_SEEDS} is not JSON; it is written by kubecache's global setup, so do not set it by hand.`,
      );
    }
  }
  return { url, token, seeds };
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
