// Worker-side entry point (kubecache/client): safe to load in any test
// worker, CommonJS or ESM, because it never imports @kubernetes/client-node.
export { BrokerClient, ENV_BROKER_TOKEN, ENV_BROKER_URL } from '../broker/client.js';
export type { CacheLease, LeaseStatus, SeedRequest } from '../broker/types.js';
export type { CacheOptions, EndpointMode } from '../config/options.js';
export type { MemcachedClient } from '../engines/memcached/client.js';
export type { EngineName } from '../engines/types.js';
export { isKubecacheError, KubecacheError } from '../errors.js';
export {
  type CacheHandle,
  type ClientFor,
  defaultWorkerId,
  type OpenCacheOptions,
  openCache,
} from './open-cache.js';
