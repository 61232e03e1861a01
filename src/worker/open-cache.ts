import { createHash } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import type { CacheOptions } from '../config/options.js';
import { type ClientFor, engines } from '../engines/registry.js';
import { BrokerClient } from './broker-client.js';
import type { AcquireRequest, CacheLease, LeaseStatus, SeedRequest } from './protocol.js';

export type { ClientFor } from '../engines/registry.js';

import type { EngineClientOps, EngineName } from '../engines/types.js';
import { isKubecacheError, KubecacheError } from '../errors.js';

/** Seeds a cache through its client; re-run by reset() for memcached. */
export type SeedFunction<E extends EngineName = EngineName> = (
  client: ClientFor<E>,
) => Promise<void>;

export interface OpenCacheOptions<E extends EngineName = EngineName> {
  /** Pool slot; defaults to VITEST_POOL_ID / JEST_WORKER_ID / "1". */
  worker?: string;
  /** Tells apart several caches of one engine in a worker. */
  name?: string;
  options?: CacheOptions;
  /**
   * Start data: `{kind: 'rdb', path}` (redis; restored before the engine
   * starts), `{kind: 'json', path}`, or a function given the client.
   */
  seed?: SeedRequest | SeedFunction<E>;
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
  /** Writes the live dataset to an RDB file on this machine (redis only). */
  snapshot(path: string): Promise<{ bytes: number; rdbVersion: number }>;
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
  opts: OpenCacheOptions<E> = {},
): Promise<CacheHandle<E>> {
  const broker = opts.broker ?? BrokerClient.fromEnv();
  const seedFn = typeof opts.seed === 'function' ? opts.seed : undefined;
  const seed: SeedRequest | undefined = seedFn
    ? {
        kind: 'function',
        id: createHash('sha256').update(seedFn.toString()).digest('hex').slice(0, 16),
      }
    : absoluteSeed(opts.seed as SeedRequest | undefined);
  const req: AcquireRequest = {
    engine,
    worker: opts.worker ?? defaultWorkerId(),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.options ? { options: opts.options } : {}),
    ...(seed ? { seed } : {}),
  };
  const lease = await broker.acquire(req);
  const endpoint = { host: lease.host, port: lease.port };
  const ops = engines[engine].clientOps as EngineClientOps<ClientFor<E>>;
  const client = await ops.connect(endpoint);

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

  // Seeds that go through the client. Engines that can keep the seeded state
  // (redis: SAVE to the pod's dump.rdb, which an RDB seed is already) reset
  // back to it; the others flush and seed again. A reused pod is only reset.
  const jsonSeed = seed?.kind === 'json' ? await ops.loadJsonSeed(seed.path) : undefined;
  const applySeed = async (): Promise<void> => {
    if (jsonSeed !== undefined) await ops.applyJsonSeed(client, jsonSeed);
    else if (seedFn) await seedFn(client);
    else return;
    await ops.keepSeed?.(client);
  };
  const reset = async (): Promise<void> => {
    try {
      if (seed && ops.restoreSeed) await ops.restoreSeed(client);
      else {
        await ops.flush(client);
        if (seed) await applySeed();
      }
    } catch (err) {
      await explain(err);
    }
  };
  try {
    if (lease.reused) await reset();
    else await applySeed();
  } catch (err) {
    await explain(err);
  }

  return {
    engine,
    client,
    host: lease.host,
    port: lease.port,
    url: lease.url,
    podName: lease.podName,
    lease,
    reset,
    async snapshot(path: string) {
      if (!ops.snapshot) {
        throw new KubecacheError(
          'BAD_OPTION',
          `snapshot() needs an engine with a dump format (redis); ${engine} has none.`,
          { field: 'engine', value: engine },
        );
      }
      return ops.snapshot(endpoint, path);
    },
    describe: () => broker.describe(lease.id),
    close: () => ops.close(client),
  };
}

/** The broker may run in another directory than the worker: send absolute paths. */
function absoluteSeed(seed: SeedRequest | undefined): SeedRequest | undefined {
  if (!seed || seed.kind === 'function') return seed;
  return { ...seed, path: resolvePath(seed.path) };
}
