import { publishVars } from '../config/env.js';
import type { CacheOptions } from '../config/options.js';
import { vEngineName, vUseCacheOptions } from '../config/validate.js';
import { withTimeout } from '../deadline.js';
import { engines, type RedisClientKind } from '../engines/registry.js';
import type { EngineName } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import { BrokerClient } from './broker-client.js';
import type { Connection } from './connection.js';
import {
  acquireRequest,
  type CacheHandle,
  type ClientFor,
  type ClientOptionsFor,
  openCache,
  type SeedFunction,
  type SnapshotFor,
  type SnapshotOptions,
} from './open-cache.js';
import type { CacheLease, SeedRequest } from './protocol.js';
import { type SeedInput, toSeedRequest } from './seed-input.js';

// Worker side: loaded by Jest's CommonJS workers, so no broker or client-node imports.

export interface PodDescription {
  podName: string;
  events: string[];
  logs: string;
}

/** Options of useCache and of the Vitest fixtures: the cache's pod settings plus how tests use it. */
export interface UseCacheOptions<
  E extends EngineName = EngineName,
  K extends RedisClientKind = 'ioredis',
> extends CacheOptions {
  /** Tells apart several caches of one engine used by the same worker. */
  name?: string;
  /**
   * Data the cache starts with and goes back to on reset(). A path or file
   * URL ending in .rdb or .json, {kind, path}, or a function that writes the
   * data through the client; relative paths are resolved from the working
   * directory. `false` starts empty even when the config sets a default seed.
   */
  seed?: SeedInput | SeedFunction<E, K> | false;
  /** Upper bound for getting the cache (pod start, image pull); default 120 000 ms. */
  openTimeoutMs?: number;
  /**
   * redis and valkey: the client library handed to tests, "ioredis" (default)
   * or "node-redis" (the `redis` package). Install the one you pick.
   */
  client?: K;
  /**
   * Options for the client kubecache connects (ioredis RedisOptions, memjs
   * client and server options); host and port are kubecache's.
   */
  clientOptions?: ClientOptionsFor<E>;
  /**
   * An environment variable set to the cache's address while the cache is
   * open, for application code that reads its config from the environment.
   * Default: REDIS_URL / VALKEY_URL (the cache's url) or MEMCACHED_SERVERS (host:port)
   * for a cache without `name`; none for a named cache. `false`: none.
   */
  env?: string | false;
}

/**
 * The handle tests get from useCache and from the fixtures: a CacheHandle
 * whose client the hooks close, so tests have no close() of their own.
 */
export type UsedCache<
  E extends EngineName = EngineName,
  K extends RedisClientKind = 'ioredis',
> = Omit<CacheHandle<E, K>, 'close'>;

export const DEFAULT_OPEN_TIMEOUT_MS = 120_000;

/**
 * The open timeout as a number. Validation accepts "30000" as a config file
 * may give it; used as given, `+ 5_000` made the hook timeout "300005000",
 * past setTimeout's limit, so the hook timed out at once.
 */
export function openTimeoutOf(options: { openTimeoutMs?: number | string }): number {
  return options.openTimeoutMs === undefined
    ? DEFAULT_OPEN_TIMEOUT_MS
    : Number(options.openTimeoutMs);
}

const OWN_KEYS = [
  'engine',
  'name',
  'seed',
  'openTimeoutMs',
  'reset',
  'scope',
  'client',
  'clientOptions',
  'env',
] as const;

/** The variable a cache's address goes to by default (see UseCacheOptions.env). */
export function defaultEnvVar(engine: EngineName, options: { name?: string }): string | undefined {
  if (options.name) return undefined;
  return engines[engine].clientOps.addressEnv.name;
}

/**
 * Validates what useCache / a fixture definition was given, at the call, so
 * a mistake fails on the line that has it. `call` names the call in messages.
 */
export function checkUseCache(
  engine: unknown,
  options: unknown,
  call: string,
  fixture = false,
): void {
  vEngineName(engine, call);
  vUseCacheOptions(options, `${call} options`, {
    fixture,
    checkSeed: (seed, where) => {
      toSeedRequest(seed, process.cwd(), where);
    },
  });
}

/** The stack frames of a useCache call, as text; only an error report reads them. */
export type CallSite = () => string | undefined;

/**
 * Captures the caller's frames where useCache was called. Formatting them is
 * left until an error needs them: V8 formats a captured stack on first read,
 * and under Jest that goes through its source-map support, ≈ 40 ms of CPU
 * per worker for frames that a passing suite never shows.
 */
export function callSite(skip: (...args: never) => unknown): CallSite {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, skip);
  let frames: string | undefined | null = null;
  return () => {
    if (frames === null) frames = holder.stack?.split('\n').slice(1).join('\n') || undefined;
    return frames;
  };
}

/** Splits what goes to the broker as pod options from kubecache's own test-side keys. */
export function podOptions(options: object): CacheOptions {
  const rest: Record<string, unknown> = { ...options };
  for (const key of OWN_KEYS) delete rest[key];
  return rest as CacheOptions;
}

/**
 * One cache as a test file sees it: created before the pod exists (useCache
 * runs at collection time) and opened later in a hook or fixture. Accessing
 * the client before that fails with a message saying where to use it.
 */
export class CacheSlot<E extends EngineName, K extends RedisClientKind = 'ioredis'>
  implements UsedCache<E, K>
{
  readonly engine: E;
  private readonly options: UseCacheOptions<E, K>;
  private readonly where: string;
  private handle: CacheHandle<E, K> | undefined;
  private opening: Promise<void> | undefined;
  private prefetched: { worker: string; acquired: Promise<CacheLease> } | undefined;
  /** False once a test may have written to the cache since the last reset. */
  private clean = false;
  /** Whether the cache was ever open: a NOT_OPEN then means "closed", not "not yet". */
  private wasOpen = false;
  /** The test file that last used this cache (worker-scoped caches are reset on change). */
  file: string | undefined;
  /** Stack frames of the useCache call, added to open failures so the report points at it. */
  private readonly site: CallSite | undefined;
  private restoreEnv: (() => void) | undefined;

  constructor(engine: E, options: UseCacheOptions<E, K>, where: string, site?: CallSite) {
    this.engine = engine;
    this.options = options;
    this.where = where;
    this.site = site;
  }

  get opened(): boolean {
    return this.handle !== undefined;
  }

  /**
   * Gets this worker slot's pod from the broker and connects. A pod that an
   * earlier file of the same slot used is reset first, so every file starts
   * from the seed.
   */
  /**
   * Asks the broker for the pod now, without connecting: called when the
   * file is collected, so all caches of a file (and the pods of all workers)
   * start at once instead of one beforeAll hook after the other. open()
   * picks the answer up; a failure surfaces there, in the hook.
   */
  prefetch(connection: Connection, worker: string): void {
    if (this.prefetched || this.opening) return;
    const { broker, request } = this.request(connection, worker);
    const acquired = broker.acquire(request);
    acquired.catch(() => {});
    this.prefetched = { worker, acquired };
  }

  private request(connection: Connection, worker: string) {
    const seed = this.seedFor(connection);
    const pod = podOptions(this.options);
    const opts = {
      worker,
      broker: new BrokerClient(connection.url, connection.token),
      ...(this.options.name ? { name: this.options.name } : {}),
      ...(this.options.client ? { client: this.options.client } : {}),
      ...(Object.keys(pod).length > 0 ? { options: pod } : {}),
      ...(seed ? { seed } : {}),
      ...(this.options.clientOptions ? { clientOptions: this.options.clientOptions } : {}),
    };
    return { broker: opts.broker, opts, request: acquireRequest(this.engine, opts) };
  }

  open(connection: Connection, worker: string): Promise<void> {
    this.opening ??= this.doOpen(connection, worker).catch((err: unknown) => {
      this.opening = undefined;
      throw this.withSite(err);
    });
    return this.opening;
  }

  /** Appends the useCache call's frames: the runner then shows the user's line. */
  private withSite(err: unknown): unknown {
    const site = this.site?.();
    if (!site || !(err instanceof Error) || err.stack?.includes(site)) return err;
    err.stack = `${err.stack ?? `${err.name}: ${err.message}`}\n${site}`;
    return err;
  }

  private async doOpen(connection: Connection, worker: string): Promise<void> {
    const { opts } = this.request(connection, worker);
    const prefetched = this.prefetched?.worker === worker ? this.prefetched.acquired : undefined;
    this.prefetched = undefined;
    const pending = openCache(this.engine, {
      ...opts,
      ...(prefetched ? { acquired: prefetched } : {}),
    });
    let handle: CacheHandle<E, K>;
    try {
      const ms = openTimeoutOf(this.options);
      const what = `opening the ${this.engine} cache for ${this.where}`;
      handle = await withTimeout(pending, ms, () => openTimeoutError(ms, what));
    } catch (err) {
      // A cache that arrives after we gave up must not keep the worker alive.
      pending.then(
        (late) => late.close(),
        () => {},
      );
      throw err;
    }
    // openCache resets a reused pod itself, so the handle starts clean either way.
    this.handle = handle;
    this.wasOpen = true;
    this.clean = true;
    this.exportEnv(handle);
  }

  private exportEnv(handle: CacheHandle<E, K>): void {
    const name =
      this.options.env === false
        ? undefined
        : (this.options.env ?? defaultEnvVar(this.engine, this.options));
    if (!name) return;
    this.restoreEnv = publishVars({
      [name]: engines[this.engine].clientOps.addressEnv.value(handle),
    });
  }

  private seedFor(connection: Connection): SeedRequest | SeedFunction<E, K> | undefined {
    const seed = this.options.seed;
    if (seed === false) return undefined;
    if (typeof seed === 'function') return seed;
    if (seed !== undefined) return toSeedRequest(seed, process.cwd(), `${this.engine} seed`);
    return connection.seeds[this.engine];
  }

  private current(): CacheHandle<E, K> {
    if (!this.handle) {
      // Vitest takes a hook added inside a running test and never runs it, so
      // a useCache called there shows up only here, in the test that uses it.
      throw new KubecacheError(
        'NOT_OPEN',
        this.wasOpen
          ? `the ${this.engine} cache of ${this.where} is not open any more: it closed in its afterAll hook, so use it inside tests and hooks, not in code that runs after the file's tests (a timer, a promise nobody awaited).`
          : `the ${this.engine} cache of ${this.where} is not open yet: it opens in the beforeAll hook that useCache adds, so use it inside tests and hooks, not at the top level of the file. ` +
              'If useCache itself was called inside a test or hook, its hook was added too late to run: call useCache at the top level of the file or in a describe block.',
      );
    }
    return this.handle;
  }

  get client(): ClientFor<E, K> {
    return this.current().client;
  }
  get host(): string {
    return this.current().host;
  }
  get port(): number {
    return this.current().port;
  }
  get url(): string {
    return this.current().url;
  }
  get username(): string | undefined {
    return this.current().username;
  }
  get password(): string | undefined {
    return this.current().password;
  }
  get tls(): { ca: string; servername: string } | undefined {
    return this.current().tls;
  }
  get podName(): string {
    return this.current().podName;
  }
  get lease(): CacheLease {
    return this.current().lease;
  }

  async reset(): Promise<void> {
    await this.current().reset();
    this.clean = true;
  }

  /** Resets unless nothing could have written since the last reset; call before a test. */
  async prepare(): Promise<void> {
    if (!this.clean) await this.reset();
    this.clean = false;
  }

  /** The next prepare() resets: a test is about to get the cache without a reset first. */
  markUsed(): void {
    this.clean = false;
  }

  get snapshot(): SnapshotFor<E> {
    return ((path: string, options?: SnapshotOptions) =>
      (this.current().snapshot as (p: string, o?: SnapshotOptions) => Promise<unknown>)(
        path,
        options,
      )) as SnapshotFor<E>;
  }

  describe(): Promise<PodDescription> {
    return this.current().describe();
  }

  // Outage helpers: the next prepare() resets, which also starts a stopped server.
  async stop(): Promise<void> {
    this.clean = false;
    await this.current().stop();
  }

  async start(): Promise<void> {
    await this.current().start();
  }

  async restart(opts?: { keepData?: boolean }): Promise<void> {
    this.clean = false;
    await this.current().restart(opts);
  }

  async pause(ms: number): Promise<void> {
    this.clean = false;
    await this.current().pause(ms);
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    this.opening = undefined;
    this.file = undefined;
    this.restoreEnv?.();
    this.restoreEnv = undefined;
    await handle?.close();
  }
}

function openTimeoutError(ms: number, what: string): KubecacheError {
  return new KubecacheError(
    'TIMEOUT',
    `${what} took more than openTimeoutMs (${ms} ms), so the test stopped waiting. ` +
      "The pod may still be pulling its image or waiting for a node; the runner's [kubecache] lines say how far each pod got, and none means it had not started yet. " +
      'Raise openTimeoutMs (default 120000) if the cluster is slow, or look at `kubectl get events` in the namespace for what holds the pod.',
    { openTimeoutMs: ms },
  );
}

/**
 * What useCache does first in every runner (Jest and Vitest alike): checks
 * the arguments, makes the file's slot and asks for its pod at collection
 * time, so every cache of the file (and of every worker) starts concurrently
 * and the runner's beforeAll only connects. `timeout` is for that beforeAll:
 * 5 s over the open timeout.
 */
export function prefetchedFileSlot<E extends EngineName, K extends RedisClientKind>(
  engine: E,
  options: UseCacheOptions<E, K>,
  site: CallSite | undefined,
  connection: () => Connection,
  worker: () => string,
): { slot: CacheSlot<E, K>; timeout: number } {
  checkUseCache(engine, options, `useCache(${JSON.stringify(engine)})`);
  const slot = new CacheSlot(engine, options, 'this test file', site);
  const timeout = openTimeoutOf(options) + 5_000;
  try {
    slot.prefetch(connection(), worker());
  } catch {
    // No broker: the runner's beforeAll reports it where the user can see it.
  }
  return { slot, timeout };
}
