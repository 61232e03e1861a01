import { appendFileSync } from 'node:fs';

/** Notes which worker used which pod, for the driver's checks (test/consumers/run.mjs). */
export function record(file, cache, handle) {
  const out = process.env.KUBECACHE_CONSUMER_REPORT;
  if (!out) return;
  const entry = {
    file,
    worker: process.env.VITEST_POOL_ID,
    engine: handle.engine,
    cache,
    pod: handle.podName,
    reused: handle.lease.reused,
  };
  appendFileSync(out, `${JSON.stringify(entry)}\n`);
}
