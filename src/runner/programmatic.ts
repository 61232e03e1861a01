import type { EngineName } from '../engines/types.js';
import {
  CacheSlot,
  callSite,
  checkUseCache,
  type UseCacheOptions,
  type UsedCache,
} from '../worker/cache-slot.js';
import type { KubecacheConfig } from './config-file.js';
import { openSession } from './session.js';

/** A cache from startKubecache().acquire(): a UsedCache that its caller closes. */
export type AcquiredCache<E extends EngineName = EngineName> = UsedCache<E> & {
  /** Closes the client (and restores the env variable); the pod stays for the next acquire. */
  close(): Promise<void>;
};

export interface AcquireOptions<E extends EngineName = EngineName> extends UseCacheOptions<E> {
  /** Pool slot the pod belongs to: acquires with the same worker share one pod. Default "1". */
  worker?: string;
}

export interface Kubecache {
  /** Gets a cache pod (started on first use, reset when reused) and connects a client. */
  acquire<E extends EngineName>(engine: E, options?: AcquireOptions<E>): Promise<AcquiredCache<E>>;
  /** Closes every client acquire() opened and deletes the run's pods. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Where kubecache.config.* is looked for; default: the working directory. */
  root?: string;
  /** Options that override kubecache.config.* (env variables override both). */
  options?: KubecacheConfig;
}

/**
 * kubecache without a test runner's global setup: for node:test, Mocha or a
 * script. Starts the broker in this process; stop() deletes the pods (also
 * on Ctrl-C). Call it once per process, e.g. in a before() hook.
 */
export async function startKubecache(input: StartOptions = {}): Promise<Kubecache> {
  const session = await openSession({
    root: input.root ?? process.cwd(),
    ...(input.options
      ? { runnerOptions: input.options, runnerSource: 'startKubecache options' }
      : {}),
    exportEnv: true,
  });
  const open = new Set<CacheSlot<EngineName>>();
  async function acquire<E extends EngineName>(
    engine: E,
    options: AcquireOptions<E> = {},
  ): Promise<AcquiredCache<E>> {
    const { worker, ...rest } = options;
    checkUseCache(engine, rest, `acquire(${JSON.stringify(engine)})`);
    const slot = new CacheSlot<E>(engine, rest, 'acquire()', callSite(acquire));
    await slot.open(session.connection, worker ?? '1');
    open.add(slot as CacheSlot<EngineName>);
    const close = slot.close.bind(slot);
    slot.close = async () => {
      open.delete(slot as CacheSlot<EngineName>);
      await close();
    };
    return slot as AcquiredCache<E>;
  }
  return {
    acquire,
    async stop() {
      for (const slot of [...open]) await slot.close();
      await session.release();
    },
  };
}
