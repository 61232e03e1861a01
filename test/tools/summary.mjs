// Prints the closing lines of npm test from Vitest's JSON report and the
// consumer driver's log ("consumers: N passed, M failed"), ending with one
// "all: N passed, N failed" line that any CI log reader can parse.
//   usage: node summary.mjs VITEST_REPORT.json [CONSUMERS.log] [DOCS.log]
import { readFileSync } from 'node:fs';

const file = process.argv[2];
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`no vitest report at ${file}: ${err.message}`);
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
let allPassed = passed;
let allFailed = failed;
// Each further argument is a driver log ending in "<name>: N passed, M failed"
// (test/consumers/run.mjs, test/docs/run.mjs).
for (const logFile of process.argv.slice(3)) {
  let log = '';
  try {
    log = readFileSync(logFile, 'utf8');
  } catch {
    // no log: the driver did not run, which counts as a failure below
  }
  const m = /^(consumers|docs): (\d+) passed, (\d+) failed/m.exec(log);
  if (m) {
    allPassed += Number(m[2]);
    allFailed += Number(m[3]);
  } else {
    allFailed += 1;
    console.log(`${logFile}: no summary line (the driver did not finish)`);
  }
}
console.log(`all: ${allPassed} passed, ${allFailed} failed`);
process.exit(passed > 0 && allFailed === 0 ? 0 : 1);
