import { writeFileSync } from 'node:fs';
import { restoreApiserver, waitHealthy } from './support/control-plane.js';
import { REPORT_FILE, readResults, renderReport, resetResults } from './support/report.js';

// The chaos project's global setup: starts from a healthy control plane and,
// after the last scenario, makes sure the apiserver runs again, then writes
// the reliability table (reliability.md in the cluster's state dir,
// .kubecache-dev for the default configuration) and prints it.
export async function setup(): Promise<() => Promise<void>> {
  const t0 = Date.now();
  resetResults();
  await waitHealthy();
  return async () => {
    await restoreApiserver();
    const rows = readResults();
    const text = renderReport(rows, { wallMs: Date.now() - t0, date: new Date().toISOString() });
    writeFileSync(REPORT_FILE, text);
    process.stdout.write(`\n${text}\nchaos report written to ${REPORT_FILE}\n`);
  };
}
