import type { KubecacheConfig } from '../runner/config-file.js';
import type { Connection } from '../worker/connection.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Set by kubecache's global setup: how test workers reach the broker. */
    kubecache: Connection;
    /** Kubecache options in the Vitest config (`test.provide`); they override kubecache.config.*. */
    kubecacheOptions: KubecacheConfig;
  }
}

export type { Connection as KubecacheConnection };
