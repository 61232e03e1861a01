import type { Redis } from 'ioredis';
import { BrokerClient } from '../broker/client.js';
import type { AcquireRequest, CacheLease, LeaseStatus, SeedRequest } from '../broker/types.js';
import type { CacheOptions } from '../config/options.js';
import {
  closeMemcachedClient,
  createMemcachedClient,
  flushMemcached,
  type MemcachedClient,
} from '../engines/memcached-client.js';
import { closeRedisClient, createRedisClient, flushRedis } from '../engines/redis-client.js';
import type { EngineName } from '../engines/types.js';
import { isKubecacheError, KubecacheError } from '../errors.js';

export type ClientFor<E extends EngineName> = E extends 'redis' ? Redis : MemcachedClient;

export interface OpenCacheOptions {
  /** Pool slot; defaults to VITEST_POOL_ID / JEST_WORKER_ID / "1". */
  worker?: string;
  /** Tells apart several caches of one engine in a worker. */
  name?: string;
  options?: CacheOptions;
  seed?: SeedRequest;
  broker?: BrokerClient;
}

/** A test's view of one cache: a connected client plus the pod behind it. */
export interface CacheHandle<E extends EngineName = EngineName> {
  readonly engine: E;
  readonly client: ClientFor<E>;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly podName: string;
  readonly lease: CacheLease;
  /** Back to the seeded (or empty) state. */
  reset(): Promise<void>;
  /** Events and last log lines of the pod, e.g. for a failure report. */
  describe(): Promise<{ podName: string; events: string[]; logs: string }>;
  /** Closes the client; the pod stays with the worker slot for the next file. */
  close(): Promise<void>;
}

export function defaultWorkerId(env: NodeJS.ProcessEnv = process.env): string {
  return env.VITEST_POOL_ID ?? env.JEST_WORKER_ID ?? '1';
}

/**
 * Asks the broker for this worker's cache and connects a client to it.
 * Runs in test workers: only the broker's HTTP API, ioredis and memjs.
 */
export async function openCache<E extends EngineName>(
  engine: E,
  opts: OpenCacheOptions = {},
): Promise<CacheHandle<E>> {
  const broker = opts.broker ?? BrokerClient.fromEnv();
  const req: AcquireRequest = {
    engine,
    worker: opts.worker ?? defaultWorkerId(),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.options ? { options: opts.options } : {}),
    ...(opts.seed ? { seed: opts.seed } : {}),
  };
  const lease = await broker.acquire(req);
  const endpoint = { host: lease.host, port: lease.port };
  const client = (
    engine === 'redis' ? createRedisClient(endpoint) : createMemcachedClient(endpoint)
  ) as ClientFor<E>;
  if (engine === 'redis') await (client as Redis).connect();

  /** Turns a connection failure into POD_GONE when the broker knows the pod was deleted. */
  const explain = async (err: unknown): Promise<never> => {
    let status: LeaseStatus | undefined;
    try {
      status = await broker.status(lease.id);
    } catch {
      // The broker itself is unreachable; the original error says more.
    }
    if (status?.state === 'gone') {
      throw new KubecacheError('POD_GONE', status.reason ?? `pod ${lease.podName} is gone.`, {
        pod: lease.podName,
      });
    }
    if (isKubecacheError(err)) throw err;
    throw new KubecacheError(
      'UNREACHABLE',
      `cache ${lease.podName} at ${lease.host}:${lease.port} failed: ${(err as Error).message}`,
      { pod: lease.podName },
    );
  };

  return {
    engine,
    client,
    host: lease.host,
    port: lease.port,
    url: lease.url,
    podName: lease.podName,
    lease,
    async reset() {
      try {
        if (engine === 'redis') await flushRedis(client as Redis);
        else await flushMemcached(client as MemcachedClient);
      } catch (err) {
        await explain(err);
      }
    },
    describe: () => broker.describe(lease.id),
    async close() {
      if (engine === 'redis') await closeRedisClient(client as Redis);
      else await closeMemcachedClient(client as MemcachedClient);
    },
  };
}
