// Worker-side entry point (kubecache/client): safe to load in any test
// worker, CommonJS or ESM, because it never imports @kubernetes/client-node.

export type { CacheOptions, EndpointMode } from '../config/options.js';
export type { MemcachedClient } from '../engines/memcached/client.js';
export type { EngineName } from '../engines/types.js';
export { isKubecacheError, KubecacheError } from '../errors.js';
export { BrokerClient, ENV_BROKER_TOKEN, ENV_BROKER_URL } from '../worker/broker-client.js';
export {
  type CacheHandle,
  type ClientFor,
  defaultWorkerId,
  type OpenCacheOptions,
  openCache,
  type SnapshotOptions,
} from '../worker/open-cache.js';
export type { CacheLease, LeaseStatus, SeedRequest } from '../worker/protocol.js';
