import type { Broker } from './broker.js';
import type { AcquireRequest, CacheLease } from './types.js';

/**
 * The broker as the worker API sees it, recording the id of every lease it
 * hands out: a watch-mode rerun then deletes the pods the previous run no
 * longer asked for (deleteUnused).
 */
export function trackAcquires(broker: Broker, used: Set<string>): Broker {
  return new Proxy(broker, {
    get(target, prop, receiver) {
      if (prop === 'acquire') {
        return async (req: AcquireRequest): Promise<CacheLease> => {
          const lease = await target.acquire(req);
          used.add(lease.id);
          return lease;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Deletes the live pods no acquire asked for since `used` was last cleared, and clears it. */
export async function deleteUnused(broker: Broker, used: Set<string>): Promise<void> {
  const stale = broker.liveLeases().filter((lease) => !used.has(lease.id));
  used.clear();
  if (stale.length === 0) return;
  broker.progress(
    `[kubecache] rerun: deleting ${stale.length} cache pod(s) the last run did not use: ${stale.map((l) => l.podName).join(', ')}`,
  );
  await Promise.all(stale.map((lease) => broker.release(lease.id, { destroy: true })));
}
