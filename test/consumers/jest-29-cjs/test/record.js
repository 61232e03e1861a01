const { appendFileSync } = require('node:fs');

/** Notes which worker used which pod, for the driver's checks (test/consumers/run.mjs). */
function record(file, cache, handle) {
  const out = process.env.KUBECACHE_CONSUMER_REPORT;
  if (!out) return;
  const entry = {
    file,
    worker: process.env.JEST_WORKER_ID,
    engine: handle.engine,
    cache,
    pod: handle.podName,
    reused: handle.lease.reused,
  };
  appendFileSync(out, `${JSON.stringify(entry)}\n`);
}

module.exports = { record };
