import { createHash } from 'node:crypto';
import { resolve as resolvePath } from 'node:path';
import { readWorkerId } from '../config/env.js';
import type { CacheOptions } from '../config/options.js';
import { vSnapshotOptions } from '../config/validate.js';
import {
  type ClientFor,
  type ClientOptionsFor,
  engines,
  type RedisClientKind,
  type SnapshotFor,
  type SnapshotOptions,
} from '../engines/registry.js';
import { BrokerClient } from './broker-client.js';
import type { AcquireRequest, CacheLease, LeaseStatus, SeedRequest } from './protocol.js';

export type {
  ClientFor,
  ClientOptionsFor,
  SnapshotFor,
  SnapshotOptions,
} from '../engines/registry.js';

import {
  type CacheAccess,
  DEFAULT_SNAPSHOT_TIMEOUT_MS,
  type EngineClientOps,
  type EngineName,
} from '../engines/types.js';
import { isKubecacheError, KubecacheError } from '../errors.js';

/** Seeds a cache through its client; re-run by reset() for memcached. */
export type SeedFunction<
  E extends EngineName = EngineName,
  K extends RedisClientKind = 'ioredis',
> = (client: ClientFor<E, K>) => Promise<void>;

export interface OpenCacheOptions<
  E extends EngineName = EngineName,
  K extends RedisClientKind = 'ioredis',
> {
  /** Pool slot; defaults to VITEST_POOL_ID / JEST_WORKER_ID / "1". */
  worker?: string;
  /** Tells apart several caches of one engine in a worker. */
  name?: string;
  /** redis and valkey: "ioredis" (default) or "node-redis"; the package must be installed. */
  client?: K;
  options?: CacheOptions;
  /**
   * Start data: `{kind: 'rdb', path}` (redis; restored before the engine
   * starts), `{kind: 'json', path}`, or a function given the client.
   */
  seed?: SeedRequest | SeedFunction<E, K>;
  broker?: BrokerClient;
  /** Passed to ioredis / memjs; kubecache sets host and port. */
  clientOptions?: ClientOptionsFor<E>;
  /**
   * The broker's answer to this cache's acquire request, already asked for
   * (see acquireRequest): a file's caches are requested together at
   * collection time so their pods start concurrently, not one per hook.
   */
  acquired?: Promise<CacheLease>;
}

/** A test's view of one cache: a connected client plus the pod behind it. */
export interface CacheHandle<
  E extends EngineName = EngineName,
  K extends RedisClientKind = 'ioredis',
> {
  readonly engine: E;
  readonly client: ClientFor<E, K>;
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
  /**
   * Writes the live dataset to an RDB file on this machine (redis only;
   * memcached has no dump format). `timeoutMs` (default 60000) limits the
   * whole transfer.
   */
  readonly snapshot: SnapshotFor<E>;
  /** Events and last log lines of the pod, e.g. for a failure report. */
  describe(): Promise<{ podName: string; events: string[]; logs: string }>;
  /**
   * Outage helpers, real faults on the pod for testing how the application
   * copes (docs/outages.md). stop(): the server process exits and its port
   * refuses connections until start(), which brings it back (from its seed,
   * or empty) and resolves once it answers and this handle's client has
   * reconnected.
   */
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * Stops and starts the server process in the same pod (same address).
   * Without keepData the cache comes back as after reset() (the seed, or
   * empty); with keepData the dataset from just before is written back.
   */
  restart(opts?: { keepData?: boolean }): Promise<void>;
  /**
   * Freezes the server for `ms`: connections stay open and new ones are
   * accepted, but nothing is answered until it thaws by itself. Resolves as
   * soon as the server is frozen.
   */
  pause(ms: number): Promise<void>;
  /** Closes the client; the pod stays with the worker slot for the next file. */
  close(): Promise<void>;
}

/** How long a client may take to reconnect once its server answers again. */
const RECONNECT_MS = 10_000;

export function defaultWorkerId(env: NodeJS.ProcessEnv = process.env): string {
  return readWorkerId(env);
}

/**
 * Asks the broker for this worker's cache and connects a client to it.
 * Runs in test workers: only the broker's HTTP API, ioredis and memjs.
 */
export async function openCache<E extends EngineName, K extends RedisClientKind = 'ioredis'>(
  engine: E,
  opts: OpenCacheOptions<E, K> = {},
): Promise<CacheHandle<E, K>> {
  const ops = engines[engine].clientOps as EngineClientOps<ClientFor<E, K>>;
  if (opts.client !== undefined && !ops.clients.includes(opts.client)) {
    throw new KubecacheError(
      'BAD_OPTION',
      `client: ${JSON.stringify(opts.client)} does not work with the ${engine} engine; ` +
        `accepted: ${ops.clients.map((c) => `"${c}"`).join(', ')}.`,
      { field: 'client', value: opts.client, accepted: ops.clients },
    );
  }
  const broker = opts.broker ?? BrokerClient.fromEnv();
  const seedFn = typeof opts.seed === 'function' ? opts.seed : undefined;
  const req = acquireRequest(engine, opts);
  const seed = req.seed;
  // kubecache's own login stays in this closure: the handle's lease goes to
  // tests without it.
  const { admin, ...lease } = await (opts.acquired ?? broker.acquire(req));
  const endpoint = { host: lease.host, port: lease.port };
  const tls = lease.tls ? { tls: lease.tls } : {};
  const userAccess: CacheAccess = { ...(lease.auth ? { login: lease.auth } : {}), ...tls };
  const adminAccess: CacheAccess = admin ? { login: admin, ...tls } : userAccess;
  const separateAdmin = admin !== undefined && admin.username !== lease.auth?.username;
  // Reset, keeping the seed and snapshot() run as kubecache's admin user:
  // the test's user may not DEBUG, SAVE, SYNC (or FLUSHALL when restricted).
  // Its connection is opened alongside the test's, so it costs no extra wait.
  // True from stop() (or a restart) until the server is back: the clients keep reconnecting.
  let outage = false;
  // Between stop() and start(): reset() starts the server first.
  let stopped = false;
  const connectOptions = {
    hooks: { keepRetrying: () => outage },
    ...(opts.client ? { client: opts.client } : {}),
  };
  const [client, adminClient] = await Promise.all([
    ops.connect(endpoint, userAccess, {
      ...connectOptions,
      ...(opts.clientOptions
        ? { clientOptions: opts.clientOptions as Record<string, unknown> }
        : {}),
    }),
    separateAdmin ? ops.connect(endpoint, adminAccess, connectOptions) : undefined,
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
    if (status?.outage === 'stopped') {
      throw new KubecacheError(
        'UNREACHABLE',
        `cache ${lease.podName} is stopped: this test called stop() and not start() yet. Call cache.start() before using it again.`,
        { pod: lease.podName, outage: status.outage },
        { cause: err },
      );
    }
    if (status?.state === 'gone') {
      throw new KubecacheError(
        status.code ?? 'POD_GONE',
        status.reason ??
          `pod ${lease.podName} is gone; the next useCache() or reset() gets a fresh pod.`,
        { pod: lease.podName },
        { cause: err },
      );
    }
    if (isKubecacheError(err)) throw err;
    throw new KubecacheError(
      'UNREACHABLE',
      `cache ${lease.podName} at ${lease.host}:${lease.port} failed: ${(err as Error).message}. ` +
        'kubecache saw no sign of the pod going away, so the connection from this test process to it broke. cache.describe() gives ' +
        'the pod\'s events and last log lines; if it happens again, "npx kubecache doctor" checks that ' +
        'this machine reaches cache pods (the endpoint option picks how).',
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
  /** Back to the seeded (or empty) state, on a running server. */
  const resetData = async (): Promise<void> => {
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
  const reset = async (): Promise<void> => {
    if (stopped) await start();
    await resetData();
  };
  /**
   * After the server was started again: wait for the clients, then put the
   * data back: what was kept, or the seed exactly as reset() would (the
   * server itself starts empty or from the file it was seeded with).
   */
  const backUp = async (keep: { kept: unknown } | undefined): Promise<void> => {
    try {
      await Promise.all([
        ops.reconnected?.(client, RECONNECT_MS),
        adminClient ? ops.reconnected?.(adminClient, RECONNECT_MS) : undefined,
      ]);
      if (keep) await ops.restoreData?.(own, keep.kept);
      else if (seed) await resetData();
    } catch (err) {
      await explain(err);
    } finally {
      outage = false;
    }
  };

  async function start(): Promise<void> {
    outage = true;
    await broker.outage(lease.id, { action: 'start' });
    stopped = false;
    await backUp(undefined);
  }

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
    // Typed away for memcached (SnapshotFor); JavaScript callers still get a named error.
    snapshot: (async (path: string, snapshotOptions?: SnapshotOptions) => {
      if (!ops.snapshot) {
        throw new KubecacheError(
          'BAD_OPTION',
          `snapshot() needs an engine with a dump format (redis); ${engine} has none.`,
          { field: 'engine', value: engine },
        );
      }
      const { timeoutMs } = vSnapshotOptions(snapshotOptions, DEFAULT_SNAPSHOT_TIMEOUT_MS);
      return ops.snapshot(endpoint, path, {
        timeoutMs,
        access: adminAccess,
        raiseTimeout: (ms) =>
          `pass a larger timeoutMs, as in cache.snapshot(path, { timeoutMs: ${ms} })`,
      });
    }) as SnapshotFor<E>,
    describe: () => broker.describe(lease.id),
    async stop() {
      outage = true;
      stopped = true;
      await broker.outage(lease.id, { action: 'stop' });
    },
    start,
    async restart(restartOpts = {}) {
      let kept: unknown;
      if (restartOpts.keepData) {
        if (!ops.captureData) {
          throw new KubecacheError(
            'BAD_OPTION',
            `restart({keepData: true}) needs an engine that can list its keys; ${engine} cannot. ` +
              'Use restart() (the cache comes back with its seed) instead.',
            { field: 'keepData', engine },
          );
        }
        kept = await ops.captureData(own);
      }
      outage = true;
      await broker.outage(lease.id, { action: 'restart' });
      await backUp(restartOpts.keepData ? { kept } : undefined);
    },
    async pause(ms: number) {
      await broker.outage(lease.id, { action: 'pause', ms });
    },
    async close() {
      await Promise.all([ops.close(client), adminClient ? ops.close(adminClient) : undefined]);
    },
  };
}

/** What openCache asks the broker for: the same for a prefetch and for the open itself. */
export function acquireRequest<E extends EngineName, K extends RedisClientKind = 'ioredis'>(
  engine: E,
  opts: Pick<OpenCacheOptions<E, K>, 'worker' | 'name' | 'options' | 'seed'>,
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
