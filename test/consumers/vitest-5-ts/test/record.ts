import { appendFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { UsedCache } from 'kubecache/vitest';

/** Notes which worker used which pod, for the driver's checks (test/consumers/run.mjs). */
export function record(
  file: string,
  cache: string,
  handle: Pick<UsedCache, 'engine' | 'podName' | 'lease'>,
): void {
  const out = process.env.KUBECACHE_CONSUMER_REPORT;
  if (!out) return;
  const entry = {
    file: basename(file),
    worker: process.env.VITEST_POOL_ID,
    engine: handle.engine,
    cache,
    pod: handle.podName,
    reused: handle.lease.reused,
  };
  appendFileSync(out, `${JSON.stringify(entry)}\n`);
}
