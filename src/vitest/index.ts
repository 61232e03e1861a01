import { afterAll, beforeAll, beforeEach, inject, type TestAPI, type TestContext } from 'vitest';
import { readWorkerId } from '../config/env.js';
import type { RedisClientKind } from '../engines/registry.js';
import type { EngineName } from '../engines/types.js';
import {
  CacheSlot,
  type CallSite,
  callSite,
  checkUseCache,
  prefetchedFileSlot,
  type UseCacheOptions,
  type UsedCache,
} from '../worker/cache-slot.js';
import { type Connection, connectionFromEnv, missingBroker } from '../worker/connection.js';
import { cachePodReport } from '../worker/report.js';

/** A slot of any engine and client, for the per-file and per-worker registries. */
type AnySlot = CacheSlot<EngineName, RedisClientKind>;

export type { CacheLease, SeedRequest } from '../broker/types.js';
export type { CacheOptions } from '../config/options.js';
export type { MemcachedClient } from '../engines/memcached/client.js';
export type { EngineName } from '../engines/types.js';
export { isKubecacheError, KubecacheError } from '../errors.js';
export { defineConfig, type KubecacheConfig } from '../runner/config-file.js';
export type { PodDescription, UseCacheOptions, UsedCache } from '../worker/cache-slot.js';
export type { ClientFor, SeedFunction, SnapshotOptions } from '../worker/open-cache.js';
export { CachePodReport } from '../worker/report.js';
export type { SeedInput } from '../worker/seed-input.js';
export type { KubecacheConnection } from './provided.js';

/** Reset caches before every test (default) or only when the file starts. */
export interface VitestUseCacheOptions<
  E extends EngineName = EngineName,
  K extends RedisClientKind = 'ioredis',
> extends UseCacheOptions<E, K> {
  reset?: 'test' | 'file';
}

export type CacheScope = 'test' | 'file' | 'worker';

export interface CacheFixtureOptions extends UseCacheOptions<EngineName, RedisClientKind> {
  engine: EngineName;
  /**
   * How long one cache lives and when it is reset. "test": reset before each
   * test. "file": reset when the file starts. "worker": one pod per pool slot
   * (VITEST_POOL_ID) for all its files, reset when the next file starts;
   * needs Vitest 3.2 or later.
   */
  scope?: CacheScope;
}

/** Caches opened by useCache in the running file. */
const fileCaches = new Set<AnySlot>();
/** Worker-scoped fixture caches that are open in this worker. */
const workerCaches = new Set<AnySlot>();
const watchedTests = new WeakSet<object>();

function connection(): Connection {
  let provided: Connection | undefined;
  try {
    provided = inject('kubecache');
  } catch {
    // Outside a Vitest worker inject() throws; the environment may still know the broker.
  }
  const found = provided?.url ? provided : connectionFromEnv();
  if (!found) throw missingBroker('vitest');
  return found;
}

function workerId(): string {
  return readWorkerId(process.env, 'vitest');
}

function cachesIn(context: object): AnySlot[] {
  const out: AnySlot[] = [];
  for (const key of Object.keys(context)) {
    try {
      const value = (context as Record<string, unknown>)[key];
      if (value instanceof CacheSlot) out.push(value);
    } catch {
      // A context getter that throws is not a cache.
    }
  }
  return out;
}

/** On failure, adds an error naming the test's cache pods with their last log lines. */
function reportFailures(context: TestContext): void {
  if (watchedTests.has(context)) return;
  watchedTests.add(context);
  context.onTestFailed(async () => {
    const report = await cachePodReport([...fileCaches, ...cachesIn(context)]);
    if (report) throw report;
  });
}

/**
 * Gives the test file (or describe block) a cache: the pod is acquired in
 * beforeAll, reset before each test (or only once, with reset: 'file'), and
 * the client is closed in afterAll. The pod stays with the worker's pool
 * slot, so the next file of the slot reuses it after a reset.
 */
export function useCache<E extends EngineName, K extends RedisClientKind = 'ioredis'>(
  engine: E,
  options: VitestUseCacheOptions<E, K> = {},
): UsedCache<E, K> {
  const { slot, timeout } = prefetchedFileSlot(
    engine,
    options,
    callSite(useCache),
    connection,
    workerId,
  );
  beforeAll(async () => {
    await slot.open(connection(), workerId());
    fileCaches.add(slot);
  }, timeout);
  // Destructured: with test.extend fixtures Vitest reads the hook's first
  // parameter to find the fixtures it needs, and rejects a plain name.
  beforeEach(async ({ task }) => {
    reportFailures(task.context);
    if (options.reset === 'file') slot.markUsed();
    else await slot.prepare();
  });
  afterAll(async () => {
    fileCaches.delete(slot);
    await slot.close();
  });
  return slot;
}

type Use<T> = (value: T) => Promise<void>;
type FixtureFn<T> = (context: object, use: Use<T>) => Promise<void>;
type ScopedFixture<T> = [FixtureFn<T>, { scope: CacheScope; auto?: boolean }];

/** The context keys the cache fixtures add: one handle per definition. */
export type CacheFixtureValues<D extends Record<string, CacheFixtureOptions>> = {
  [K in keyof D]: UsedCache<D[K]['engine'], ClientOf<D[K]>>;
} & { kubecacheHooks: undefined };

/** The client library a fixture definition picks (ioredis unless it says node-redis). */
type ClientOf<O> = O extends { client: infer C extends RedisClientKind } ? C : 'ioredis';

export type CacheFixtures<D extends Record<string, CacheFixtureOptions>> = {
  [K in keyof D]: ScopedFixture<UsedCache<D[K]['engine'], ClientOf<D[K]>>>;
} & {
  /** Runs for every test: resets worker caches between files and reports failures. */
  kubecacheHooks: [
    (context: Pick<TestContext, 'task'>, use: Use<undefined>) => Promise<void>,
    { auto: true },
  ];
};

function cacheFixture<E extends EngineName, K extends RedisClientKind = 'ioredis'>(
  name: string,
  options: CacheFixtureOptions & { engine: E; client?: K },
  site: CallSite | undefined,
): ScopedFixture<UsedCache<E, K>> {
  checkUseCache(options.engine, options, `the cache fixture "${name}"`, true);
  const scope = options.scope ?? 'test';
  const where = `the ${scope}-scoped fixture "${name}"`;
  // biome-ignore lint/correctness/noEmptyPattern: Vitest reads a fixture's dependencies from this pattern; it has none.
  const fn = async ({}: object, use: Use<UsedCache<E, K>>): Promise<void> => {
    const slot = new CacheSlot<E, K>(options.engine, options as UseCacheOptions<E, K>, where, site);
    await slot.open(connection(), workerId());
    if (scope === 'worker') workerCaches.add(slot as AnySlot);
    try {
      await use(slot);
    } finally {
      workerCaches.delete(slot as AnySlot);
      await slot.close();
    }
  };
  return [fn, { scope }];
}

/**
 * Cache fixtures for `test.extend`, one per key. TypeScript cannot infer the
 * fixture types from a prepared object, so name them, or use withCaches:
 *
 *   const caches = { redis: { engine: 'redis', scope: 'worker' } } as const;
 *   const test = base.extend<CacheFixtureValues<typeof caches>>(cacheFixtures(caches));
 *   test('reads', async ({ redis }) => { await redis.client.get('k'); });
 *
 * A test-scoped cache is opened for each test that uses it; file and worker
 * scopes open once and are reset at the start of each file. Within a pool
 * slot every scope reuses the slot's pod, so scopes trade client setup and
 * reset work, not pods.
 */
export function cacheFixtures<const D extends Record<string, CacheFixtureOptions>>(
  defs: D,
): CacheFixtures<D> {
  const out: Record<string, unknown> = {};
  // Where the fixtures were defined: an open failure points there.
  const site = callSite(cacheFixtures);
  for (const [name, options] of Object.entries(defs)) out[name] = cacheFixture(name, options, site);
  out.kubecacheHooks = [
    // Vitest requires the destructuring pattern here too; the context itself is task.context.
    async ({ task }: Pick<TestContext, 'task'>, use: Use<undefined>): Promise<void> => {
      reportFailures(task.context);
      const file = task.file?.filepath;
      for (const slot of workerCaches) {
        if (slot.file !== undefined && slot.file !== file) await slot.reset();
        slot.file = file;
      }
      await use(undefined);
    },
    { auto: true },
  ];
  return out as CacheFixtures<D>;
}

/**
 * `base.extend(cacheFixtures(defs))` with the fixture types filled in:
 *
 *   const test = withCaches(base, { redis: { engine: 'redis', scope: 'worker' } });
 */
export function withCaches<C extends object, const D extends Record<string, CacheFixtureOptions>>(
  base: TestAPI<C>,
  defs: D,
): TestAPI<C & CacheFixtureValues<D>> {
  const extend = base.extend as unknown as (fixtures: object) => unknown;
  return extend.call(base, cacheFixtures(defs)) as TestAPI<C & CacheFixtureValues<D>>;
}
