// First: fail with a clear message on a Node too old for the Kubernetes client.
import './runner/node-version.js';

// Runner-process entry point (global setup, tools). Test workers import
// kubecache/client instead, which never loads @kubernetes/client-node.
export { Broker, type BrokerOptions } from './broker/broker.js';
export { type BrokerApi, startBrokerApi } from './broker/http-api.js';
export type {
  AcquireRequest,
  CacheLease,
  LeaseStatus,
  SeedRequest,
  TeardownReport,
} from './broker/types.js';
export type {
  CacheOptions,
  EndpointMode,
  KubecacheOptions,
  Timeouts,
  Toleration,
} from './config/options.js';
export type { EngineName } from './engines/types.js';
export { type ErrorCode, isKubecacheError, KubecacheError } from './errors.js';
export { defineConfig, type KubecacheConfig } from './runner/config-file.js';
export {
  type AcquiredCache,
  type AcquireOptions,
  type Kubecache,
  type StartOptions,
  startKubecache,
} from './runner/programmatic.js';
export { teardownBeforeSignalExit } from './runner/signals.js';
export { BrokerClient, ENV_BROKER_TOKEN, ENV_BROKER_URL } from './worker/broker-client.js';
export type { UseCacheOptions, UsedCache } from './worker/cache-slot.js';
export type { SnapshotOptions } from './worker/open-cache.js';
