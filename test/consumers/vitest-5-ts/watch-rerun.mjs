// Drives Vitest's watch mode through its Node API for the watch-mode test in
// test/integration/consumers.test.ts: an initial run, reruns of one file,
// a rerun of all files, then close. After each step it prints "STEP <name>"
// and waits for a line on stdin, so the test can count pods in between.
import { createInterface } from 'node:readline';
import { createVitest } from 'vitest/node';

const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function step(name) {
  process.stdout.write(`STEP ${name}\n`);
  await input.next();
}

const vitest = await createVitest('test', { watch: true, root: process.cwd() });
await vitest.start();
await step('initial');
const all = await vitest.globTestSpecifications();
const one = all.filter((spec) => spec.moduleId.endsWith('/a.test.ts'));
await vitest.rerunTestSpecifications(one);
await step('rerun-one');
await vitest.rerunTestSpecifications(one);
await step('rerun-one-again');
await vitest.rerunTestSpecifications(all);
await step('rerun-all');
await vitest.close();
process.stdout.write('STEP closed\n');
process.exit(0);
