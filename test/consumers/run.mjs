// Runs every consumer project under test/consumers/ against the dev cluster,
// each with the packed kubecache tarball installed like a user would:
//
//   npm run test:consumers                      all of them
//   npm run test:consumers -- vitest-5-ts       some of them
//   node test/consumers/run.mjs --prepare NAME  build, pack and install only
//   node test/consumers/run.mjs --demo NAME     one suite, verbose, for `npm run demo`
//
// Each consumer gets its own namespace, created before and deleted after its
// run, and must leave no kubecache pod in it. Runner versions are installed
// one consumer at a time, into the consumer's own node_modules.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installUnlessStamped, packTarball } from '../tools/packed-install.mjs';
import { buildDist, repo } from './build-dist.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const MANAGED = 'app.kubernetes.io/managed-by=kubecache';
const FIXTURES = ['basic.rdb', 'basic.json', 'memcached.json'];

/**
 * runs: the command lines of one consumer, each a full suite run.
 * typecheck: the project is TypeScript and must type-check against the
 * installed package's declarations.
 */
export const CONSUMERS = {
  'vitest-3.2-ts': {
    runner: 'vitest',
    typecheck: true,
    runs: [['run']],
  },
  'vitest-4-esm': {
    runner: 'vitest',
    // The config uses threads without isolation; the second run covers forks with isolation.
    runs: [['run'], ['run', '--pool=forks', '--isolate']],
  },
  'vitest-5-ts': {
    runner: 'vitest',
    typecheck: true,
    // The config uses forks without isolation; the second run covers threads with isolation.
    runs: [['run'], ['run', '--pool=threads', '--isolate']],
  },
  'jest-29-cjs': {
    runner: 'jest',
    runs: [[], ['--detectOpenHandles']],
  },
  'jest-30-esm': {
    runner: 'jest',
    esm: true,
    runs: [[], ['--detectOpenHandles']],
  },
};

export function consumerDir(name) {
  return join(here, name);
}

export function namespaceFor(name) {
  return `kc-consumer-${name.replace(/[^a-z0-9]+/g, '-')}`;
}

/** The command (node + args) that runs a consumer's test runner with `args`. */
export function runnerCommand(name, args = []) {
  const spec = CONSUMERS[name];
  const dir = consumerDir(name);
  if (spec.runner === 'vitest') {
    return [process.execPath, [join(dir, 'node_modules', 'vitest', 'vitest.mjs'), ...args]];
  }
  const jest = join(dir, 'node_modules', 'jest', 'bin', 'jest.js');
  return [process.execPath, [...(spec.esm ? ['--experimental-vm-modules'] : []), jest, ...args]];
}

function sha256(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Builds dist/ and packs it; returns the tarball's path inside a fresh temp dir. */
export function pack() {
  buildDist();
  return packTarball();
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', ...opts });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/**
 * Installs the tarball and the consumer's runner into its node_modules,
 * skipping the install when neither the tarball nor package.json changed,
 * and copies the seed fixtures into it.
 */
export async function prepare(name, tarball) {
  const dir = consumerDir(name);
  mkdirSync(join(dir, 'fixtures'), { recursive: true });
  for (const f of FIXTURES)
    copyFileSync(join(repo, 'test', 'fixtures', f), join(dir, 'fixtures', f));
  const stampFile = join(dir, 'node_modules', '.kubecache-install.json');
  const stamp = JSON.stringify({
    tarball: sha256(tarball),
    pkg: sha256(join(dir, 'package.json')),
  });
  const seconds = await installUnlessStamped({
    dir,
    packages: [tarball],
    stampFile,
    stamp,
    // Output passed through: the error says only the exit code.
    run: async (cmd, args, opts) => ({ code: await run(cmd, args, opts) }),
  });
  if (seconds !== undefined) console.log(`[consumers] ${name}: installed in ${seconds} s`);
}

/** The dev cluster instance's admin kubeconfig (test.sh names the instance's). */
function devKubeconfig() {
  return process.env.KUBECACHE_TEST_KUBECONFIG ?? join(repo, '.kubecache-dev', 'admin.kubeconfig');
}

/** Environment for a consumer run against the dev cluster. */
export function consumerEnv(name, extra = {}) {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('KUBECACHE_') || key.startsWith('VITEST') || key === 'JEST_WORKER_ID')
      delete env[key];
  }
  return {
    ...env,
    CI: 'true',
    FORCE_COLOR: '0',
    KUBECONFIG: devKubeconfig(),
    KUBECACHE_NAMESPACE: namespaceFor(name),
    ...extra,
  };
}

async function cluster() {
  return import('../support/cluster.ts');
}

/** kubecache's pods in the namespace; `live` leaves out pods being deleted. */
export async function managedPods(namespace, { live = false } = {}) {
  const { adminCore } = await cluster();
  const list = await adminCore().listNamespacedPod({ namespace, labelSelector: MANAGED });
  return list.items
    .filter((p) => !live || !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name ?? '');
}

/**
 * What a run that has ended left in the namespace: pods it did not delete
 * (a run ends once its deletes went through), then, after the kubelet has
 * had time to remove the deleted ones, pods still there.
 */
export async function leftoverPods(namespace) {
  const undeleted = await managedPods(namespace, { live: true });
  const { eventuallyEmpty } = await import('../support/eventually.ts');
  const left = await eventuallyEmpty(() => managedPods(namespace));
  return { undeleted, left };
}

function readReport(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

/** What every consumer run must show: ≥4 workers, both engines, one pod per worker slot. */
export function checkReport(entries, { minWorkers = 4 } = {}) {
  const problems = [];
  const workers = new Set(entries.map((e) => e.worker));
  if (workers.size < minWorkers) {
    problems.push(`tests ran in ${workers.size} worker(s), expected at least ${minWorkers}`);
  }
  for (const engine of ['redis', 'memcached']) {
    if (!entries.some((e) => e.engine === engine)) problems.push(`no test used ${engine}`);
  }
  const podsBySlot = new Map();
  for (const e of entries) {
    const key = `${e.worker}|${e.engine}|${e.cache}`;
    podsBySlot.set(key, new Set([...(podsBySlot.get(key) ?? []), e.pod]));
  }
  for (const [key, pods] of podsBySlot) {
    if (pods.size > 1)
      problems.push(`worker slot ${key} used ${pods.size} pods: ${[...pods].join(', ')}`);
  }
  return problems;
}

async function runConsumer(name, tarball) {
  const spec = CONSUMERS[name];
  const dir = consumerDir(name);
  const ns = namespaceFor(name);
  const problems = [];
  await prepare(name, tarball);
  if (spec.typecheck) {
    const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
    const code = await run(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], {
      cwd: dir,
    });
    if (code !== 0) problems.push(`tsc --noEmit exited with ${code}`);
  }
  const { ensureNamespace, deleteNamespace } = await cluster();
  await ensureNamespace(ns);
  try {
    for (const args of spec.runs) {
      const report = join(mkdtempSync(join(tmpdir(), 'kubecache-report-')), 'report.jsonl');
      rmSync(join(dir, 'node_modules', '.cache', 'jest'), { recursive: true, force: true });
      const [cmd, argv] = runnerCommand(name, args);
      console.log(`[consumers] ${name}: ${spec.runner} ${args.join(' ')}`.trimEnd());
      const output = await capture(cmd, argv, {
        cwd: dir,
        env: consumerEnv(name, { KUBECACHE_CONSUMER_REPORT: report }),
      });
      const label = `${spec.runner} ${args.join(' ')}`.trim();
      if (output.code !== 0) problems.push(`${label} exited with ${output.code}`);
      if (args.includes('--detectOpenHandles') && /open handle/i.test(output.text)) {
        problems.push(`${label} reported open handles`);
      }
      // --detectOpenHandles makes Jest run every file in its main process.
      const minWorkers = args.includes('--detectOpenHandles') ? 1 : 4;
      for (const p of checkReport(readReport(report), { minWorkers }))
        problems.push(`${label}: ${p}`);
      const { undeleted, left } = await leftoverPods(ns);
      if (undeleted.length > 0)
        problems.push(
          `${label} did not delete ${undeleted.length} pod(s): ${undeleted.join(', ')}`,
        );
      if (left.length > 0) problems.push(`${label} left ${left.length} pod(s): ${left.join(', ')}`);
      rmSync(dirname(report), { recursive: true, force: true });
    }
  } finally {
    await deleteNamespace(ns);
  }
  return problems;
}

/** Runs a command with its output passed through and also kept for checks. */
export function capture(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => {
      text += d;
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), signal, text }));
  });
}

async function demo(name, tarball) {
  await prepare(name, tarball);
  const env = { ...process.env };
  env.KUBECONFIG ??= devKubeconfig();
  const [cmd, argv] = runnerCommand(name, ['run', '--reporter=verbose']);
  console.log(
    `[demo] running the ${name} consumer suite with kubecache (namespace ${env.KUBECACHE_NAMESPACE ?? 'from the kubeconfig'})`,
  );
  return run(cmd, argv, { cwd: consumerDir(name), env });
}

async function main(argv) {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const names = argv.filter((a) => !a.startsWith('--'));
  for (const n of names) {
    if (!CONSUMERS[n])
      throw new Error(`unknown consumer ${n}; known: ${Object.keys(CONSUMERS).join(', ')}`);
  }
  const tarball = await pack();
  try {
    if (flags.has('--prepare')) {
      for (const n of names) await prepare(n, tarball);
      return 0;
    }
    if (flags.has('--demo')) return await demo(names[0] ?? 'vitest-5-ts', tarball);
    const results = [];
    for (const n of names.length > 0 ? names : Object.keys(CONSUMERS)) {
      const t0 = Date.now();
      let problems;
      try {
        problems = await runConsumer(n, tarball);
      } catch (err) {
        problems = [String(err?.stack ?? err)];
      }
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      results.push({ name: n, problems, seconds });
      console.log(
        `[consumers] ${n}: ${problems.length === 0 ? 'passed' : 'FAILED'} in ${seconds} s`,
      );
      for (const p of problems) console.log(`[consumers]   ${p}`);
    }
    console.log('[consumers] summary:');
    for (const r of results) {
      console.log(
        `[consumers]   ${r.name.padEnd(14)} ${r.problems.length === 0 ? 'passed' : 'FAILED'}  ${r.seconds} s`,
      );
    }
    const failed = results.filter((r) => r.problems.length > 0).length;
    console.log(`consumers: ${results.length - failed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
  } finally {
    rmSync(dirname(tarball), { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
