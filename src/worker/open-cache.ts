import { createHash } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import type { CacheOptions } from '../config/options.js';
import { type ClientFor, engines } from '../engines/registry.js';
import { BrokerClient } from './broker-client.js';
import type { AcquireRequest, CacheLease, LeaseStatus, SeedRequest } from './protocol.js';

export type { ClientFor } from '../engines/registry.js';

import type { CacheAccess, EngineClientOps, EngineName } from '../engines/types.js';
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
  /**
   * The broker's answer to this cache's acquire request, already asked for
   * (see acquireRequest): a file's caches are requested together at
   * collection time so their pods start concurrently, not one per hook.
   */
  acquired?: Promise<CacheLease>;
}

/** A test's view of one cache: a connected client plus the pod behind it. */
export interface CacheHandle<E extends EngineName = EngineName> {
  readonly engine: E;
  readonly client: ClientFor<E>;
  readonly host: string;
  readonly port: number;
  /** For your own clients; carries the password when the cache is locked (`auth`). */
  readonly url: string;
  /** The test's login when the cache is locked (`auth`, the default for redis). */
  readonly username?: string;
  readonly password?: string;
  /** With `tls: true`: trust `ca` and check the certificate against `servername`. */
  readonly tls?: { ca: string; servername: string };
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
  const req = acquireRequest(engine, opts);
  const seed = req.seed;
  // kubecache's own login stays in this closure: the handle's lease goes to
  // tests without it.
  const { admin, ...lease } = await (opts.acquired ?? broker.acquire(req));
  const endpoint = { host: lease.host, port: lease.port };
  const ops = engines[engine].clientOps as EngineClientOps<ClientFor<E>>;
  const tls = lease.tls ? { tls: lease.tls } : {};
  const userAccess: CacheAccess = { ...(lease.auth ? { login: lease.auth } : {}), ...tls };
  const adminAccess: CacheAccess = admin ? { login: admin, ...tls } : userAccess;
  const separateAdmin = admin !== undefined && admin.username !== lease.auth?.username;
  // Reset, keeping the seed and snapshot() run as kubecache's admin user:
  // the test's user may not DEBUG, SAVE, SYNC (or FLUSHALL when restricted).
  // Its connection is opened alongside the test's, so it costs no extra wait.
  const [client, adminClient] = await Promise.all([
    ops.connect(endpoint, userAccess),
    separateAdmin ? ops.connect(endpoint, adminAccess) : undefined,
  ]);
  const own = adminClient ?? client;

  /** Turns a connection failure into POD_GONE when the broker knows the pod was deleted. */
  const explain = async (err: unknown): Promise<never> => {
    let status: LeaseStatus | undefined;
    try {
      status = await broker.status(lease.id);
    } catch {
      // The broker itself is unreachable; the original error says more.
    }
    if (status?.state === 'gone') {
      throw new KubecacheError(
        status.code ?? 'POD_GONE',
        status.reason ?? `pod ${lease.podName} is gone.`,
        { pod: lease.podName },
        { cause: err },
      );
    }
    if (isKubecacheError(err)) throw err;
    throw new KubecacheError(
      'UNREACHABLE',
      `cache ${lease.podName} at ${lease.host}:${lease.port} failed: ${(err as Error).message}`,
      { pod: lease.podName },
    );
  };

  // Seeds that go through the client are written again on every reset: a
  // reload of a SAVEd dump would bring keys back with their absolute expiry
  // times, so a key seeded with "ttl": 1 was gone after a reset 1.5 s later.
  // Only an RDB seed, the file the server started with, is restored in place.
  const jsonSeed = seed?.kind === 'json' ? await ops.loadJsonSeed(seed.path) : undefined;
  const applySeed = async (): Promise<void> => {
    if (jsonSeed !== undefined) await ops.applyJsonSeed(client, jsonSeed);
    else if (seedFn) await seedFn(client);
  };
  const reset = async (): Promise<void> => {
    try {
      if (seed?.kind === 'rdb' && ops.restoreSeed) await ops.restoreSeed(own);
      else {
        await ops.flush(own);
        await applySeed();
      }
    } catch (err) {
      await explain(err);
    }
  };
  try {
    // A reused pod may hold what another file (or another seed function with
    // the same source text) left: start from this cache's own seed.
    if (lease.reused) await reset();
    else await applySeed();
  } catch (err) {
    // A seed that failed leaves the pod half-seeded: give it back to be
    // deleted, so the slot's next acquire starts a clean pod instead of
    // reusing this one.
    const named: unknown = await explain(err).catch((e: unknown) => e);
    await broker.release(lease.id, { destroy: true }).catch(() => undefined);
    await Promise.all([ops.close(client), adminClient ? ops.close(adminClient) : undefined]);
    throw named;
  }

  return {
    engine,
    client,
    host: lease.host,
    port: lease.port,
    url: lease.url,
    ...(lease.auth ? { username: lease.auth.username, password: lease.auth.password } : {}),
    ...(lease.tls ? { tls: { ...lease.tls } } : {}),
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
      return ops.snapshot(endpoint, path, adminAccess);
    },
    describe: () => broker.describe(lease.id),
    async close() {
      await Promise.all([ops.close(client), adminClient ? ops.close(adminClient) : undefined]);
    },
  };
}

/** What openCache asks the broker for: the same for a prefetch and for the open itself. */
export function acquireRequest<E extends EngineName>(
  engine: E,
  opts: Pick<OpenCacheOptions<E>, 'worker' | 'name' | 'options' | 'seed'>,
): AcquireRequest {
  const seedFn = typeof opts.seed === 'function' ? opts.seed : undefined;
  const seed: SeedRequest | undefined = seedFn
    ? {
        kind: 'function',
        id: createHash('sha256').update(seedFn.toString()).digest('hex').slice(0, 16),
      }
    : absoluteSeed(opts.seed as SeedRequest | undefined);
  return {
    engine,
    worker: opts.worker ?? defaultWorkerId(),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.options ? { options: opts.options } : {}),
    ...(seed ? { seed } : {}),
  };
}

/** The broker may run in another directory than the worker: send absolute paths. */
function absoluteSeed(seed: SeedRequest | undefined): SeedRequest | undefined {
  if (!seed || seed.kind === 'function') return seed;
  return { ...seed, path: resolvePath(seed.path) };
}
