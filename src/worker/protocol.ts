// The broker's HTTP API as the worker side sees it: plain JSON types, shared by
// both sides. Lives under src/worker/ so worker code never has to reach into
// src/broker/ (the main-process side) even for types.
import type { CacheOptions } from '../config/options.js';
import type { EngineName } from '../engines/types.js';

/** A worker's request for a cache; plain JSON so it can cross the broker's HTTP API. */
export interface AcquireRequest {
  engine: EngineName;
  /** Pool slot of the worker (VITEST_POOL_ID, JEST_WORKER_ID); caches are reused per slot. */
  worker: string;
  /** Separates several caches of one engine in one worker (e.g. "sessions", "queue"). */
  name?: string;
  options?: CacheOptions;
  /** Seeding, for the seed feature; opaque to the core. */
  seed?: SeedRequest;
}

/**
 * How a cache starts with data. `rdb` is restored before the engine starts
 * (redis only); `json` and `function` are applied by the worker through its
 * client (a function cannot cross the HTTP API, so only its id does).
 */
export type SeedRequest =
  | { kind: 'rdb'; path: string; transport?: 'http' | 'exec' | 'auto' }
  | { kind: 'json'; path: string }
  | { kind: 'function'; id: string };

/** What a worker needs to open a client: no Kubernetes types, so workers never load client-node. */
export interface CacheLease {
  id: string;
  engine: EngineName;
  worker: string;
  namespace: string;
  podName: string;
  podIP: string;
  host: string;
  port: number;
  endpoint: 'pod-ip' | 'port-forward';
  /** redis://:password@host:port (rediss:// with TLS) or memcached://[user:password@]host:port */
  url: string;
  /** True when an existing pod of this slot was handed out again. */
  reused: boolean;
  seed?: SeedRequest;
  timings: { created: number; scheduled?: number; running?: number; ready: number };
  /** The test's login when the cache is locked (`auth`), for the user's own clients. */
  auth?: { username: string; password: string };
  /**
   * kubecache's own login (reset, seed save, snapshot). The worker takes it
   * out of the lease before a test sees the handle.
   */
  admin?: { username: string; password: string };
  /** With `tls: true`: the run's CA (PEM) and the name the server certificate carries. */
  tls?: { ca: string; servername: string };
}

export type LeaseState = 'ready' | 'gone' | 'released';

export interface LeaseStatus {
  id: string;
  state: LeaseState;
  podName: string;
  /** Why the lease is gone, e.g. the pod was deleted from outside the run. */
  reason?: string;
  /** With state `gone`: POD_GONE (deleted from outside) or POD_DIED (OOMKilled, exited, evicted). */
  code?: 'POD_GONE' | 'POD_DIED';
  /** Set while a test keeps the cache down on purpose (stop() without start()). */
  outage?: 'stopped';
}

/** A fault a test asks for on its own cache (cache.stop(), restart(), ...). */
export interface OutageRequest {
  action: 'stop' | 'start' | 'restart' | 'pause';
  /** pause only: how long the server stays frozen. */
  ms?: number;
}

export interface OutageResult {
  action: OutageRequest['action'];
  ms: number;
}
