// Prints the closing lines of npm test from Vitest's JSON report and the
// consumer driver's log ("consumers: N passed, M failed"), ending with one
// "all: N passed, N failed" line that any CI log reader can parse.
// With CI_FAILURES_FILE set, it also appends one line per failed test
// (file, name, first line of the error) to that file: .ci/run prints the file
// last, so the tail of a long CI log still says what failed.
//   usage: node summary.mjs VITEST_REPORT.json [CONSUMERS.log] [DOCS.log]
import { appendFileSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const failures = [];
const where = process.env.KUBECACHE_CLUSTER ?? 'newest';

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
for (const suite of report.testResults ?? []) {
  const file = relative(process.cwd(), suite.name ?? '');
  const failedTests = (suite.assertionResults ?? []).filter((t) => t.status === 'failed');
  for (const t of failedTests) {
    failures.push(`${file} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
  }
  // A file that failed outside any test (an import error, a hook) has no failed test.
  if (suite.status === 'failed' && failedTests.length === 0) {
    failures.push(`${file}: ${firstLine(suite.message)}`);
  }
}
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
    // The drivers mark a failed project with "FAILED" and indent its problems below it.
    const lines = log.split('\n');
    lines.forEach((line, i) => {
      if (!/\bFAILED\b/.test(line)) return;
      const next = lines[i + 1] ?? '';
      // The first problem line, when the driver printed one right below.
      const problem = /^\[\w+\] {3,}/.test(next) && !/\b(FAILED|passed)\b/.test(next);
      failures.push(
        problem ? `${line.trim()}: ${next.replace(/^\[\w+\]\s+/, '').slice(0, 300)}` : line.trim(),
      );
    });
  } else {
    allFailed += 1;
    console.log(`${logFile}: no summary line (the driver did not finish)`);
    failures.push(`${logFile}: no summary line (the driver did not finish)`);
  }
}
console.log(`all: ${allPassed} passed, ${allFailed} failed`);
if (process.env.CI_FAILURES_FILE && failures.length > 0) {
  appendFileSync(
    process.env.CI_FAILURES_FILE,
    [...new Set(failures)].map((f) => `${where}: ${f}\n`).join(''),
  );
}

function firstLine(text) {
  const line =
    String(text ?? '')
      .split('\n')
      .find((l) => l.trim() !== '') ?? '(no message)';
  return line.trim().slice(0, 300);
}
process.exit(passed > 0 && allFailed === 0 ? 0 : 1);
