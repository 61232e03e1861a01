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
export { teardownBeforeSignalExit } from './runner/signals.js';
export { BrokerClient, ENV_BROKER_TOKEN, ENV_BROKER_URL } from './worker/broker-client.js';
