import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminCore,
  adminKubeconfigPath,
  deleteNamespace,
  ensureNamespace,
} from '../support/cluster.js';
import { eventuallyEmpty } from '../support/eventually.js';
import { expectDeletedThenGone, podsBy } from '../support/pods-gone.js';

// The consumer projects under test/consumers/, driven as a user would drive
// them: the packed tarball installed, the runner started as a child process.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const consumers = join(repo, 'test', 'consumers');
const MANAGED = 'app.kubernetes.io/managed-by=kubecache';
// A worker's own pod (kc-redis-1-…) or a pod prestarted from the previous
// run's record that the worker adopted (kc-redis-pre1-…).
const POD_NAME = /kc-redis-(pre)?\d+-[a-z0-9]{10}-[0-9a-f]{8}/;

interface Entry {
  file: string;
  worker: string;
  engine: string;
  pod: string;
}

/** Builds, packs and installs the consumers (a no-op install when nothing changed). */
function prepare(...names: string[]): void {
  const result = spawnSync(process.execPath, [join(consumers, 'run.mjs'), '--prepare', ...names], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`preparing ${names.join(', ')} failed:\n${result.stdout}\n${result.stderr}`);
  }
}

function namespaceFor(name: string): string {
  return `kc-consumer-${name.replace(/[^a-z0-9]+/g, '-')}-it`;
}

function consumerEnv(name: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('KUBECACHE_') || key.startsWith('VITEST') || key === 'JEST_WORKER_ID') {
      continue;
    }
    env[key] = value;
  }
  return {
    ...env,
    CI: 'true',
    FORCE_COLOR: '0',
    NO_COLOR: '1',
    KUBECONFIG: adminKubeconfigPath(),
    KUBECACHE_NAMESPACE: namespaceFor(name),
    ...extra,
  };
}

function vitestArgs(name: string, ...args: string[]): string[] {
  return [join(consumers, name, 'node_modules', 'vitest', 'vitest.mjs'), ...args];
}

function jestArgs(name: string, ...args: string[]): string[] {
  const jest = join(consumers, name, 'node_modules', 'jest', 'bin', 'jest.js');
  return ['--experimental-vm-modules', jest, ...args];
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

function start(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { detached?: boolean } = {},
): { child: ChildProcess; done: Promise<Finished>; output: () => string } {
  const child = spawn(process.execPath, args, {
    cwd: join(consumers, name),
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: opts.detached === true,
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const done = new Promise<Finished>((resolveDone) => {
    child.on('exit', (code, signal) => resolveDone({ code, signal, output }));
  });
  return { child, done, output: () => output };
}

function tempReport(): string {
  return join(mkdtempSync(join(tmpdir(), 'kubecache-it-report-')), 'report.jsonl');
}

function readReport(file: string): Entry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Entry);
}

/** kubecache's pods in the namespace; `deleting: false` leaves out pods already being deleted. */
async function pods(namespace: string, opts: { deleting?: boolean } = {}): Promise<string[]> {
  const list = await adminCore().listNamespacedPod({ namespace, labelSelector: MANAGED });
  return list.items
    .filter((p) => opts.deleting !== false || !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name ?? '');
}

function expectAllDeleted(namespace: string): Promise<void> {
  return expectDeletedThenGone(podsBy(namespace, MANAGED));
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) {
    // Detached runs lead a process group: take their workers down with them.
    try {
      if (c.pid) process.kill(-c.pid, 'SIGKILL');
    } catch {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  }
});

describe('failure reports', () => {
  beforeAll(async () => {
    prepare('vitest-5-ts', 'jest-30-esm');
    await Promise.all([
      ensureNamespace(namespaceFor('vitest-5-ts')),
      ensureNamespace(namespaceFor('jest-30-esm')),
    ]);
  }, 300_000);
  afterAll(async () => {
    await deleteNamespace(namespaceFor('vitest-5-ts'));
    await deleteNamespace(namespaceFor('jest-30-esm'));
  });

  /** Runs a consumer whose test fails on purpose and checks what the failure output says. */
  async function expectFailureReport(name: string, args: string[], failure: string): Promise<void> {
    const report = tempReport();
    const run = start(
      name,
      args,
      consumerEnv(name, { KUBECACHE_CONSUMER_MODE: 'fail', KUBECACHE_CONSUMER_REPORT: report }),
    );
    children.push(run.child);
    const { code, output } = await run.done;
    expect(code).toBe(1);
    const [used] = readReport(report);
    expect(used?.pod).toMatch(POD_NAME);
    expect(output).toContain(failure);
    expect(output).toContain(`redis cache pod ${used?.pod}`);
    expect(output).toContain(`last log lines of ${used?.pod}:`);
    // A line redis itself logged, taken from the pod by the broker.
    expect(output).toMatch(/\| .*Ready to accept connections/);
    await expectAllDeleted(namespaceFor(name));
  }

  it('Vitest: a failing test names its cache pod and shows the pod log', async () => {
    await expectFailureReport(
      'vitest-5-ts',
      vitestArgs('vitest-5-ts', 'run'),
      "expected '41' to be '42'",
    );
  }, 240_000);

  it('Jest: a failing test names its cache pod and shows the pod log', async () => {
    await expectFailureReport('jest-30-esm', jestArgs('jest-30-esm'), 'deliberately fails');
  }, 240_000);
});

describe('interrupting a Vitest run', () => {
  const ns = namespaceFor('vitest-5-ts');
  beforeAll(async () => {
    prepare('vitest-5-ts');
    await ensureNamespace(ns);
  }, 300_000);
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  async function interrupted(target: 'group' | 'main'): Promise<Finished> {
    const report = tempReport();
    // Its own process group, so that "group" reaches the workers too, like Ctrl-C in a terminal.
    const run = start(
      'vitest-5-ts',
      vitestArgs('vitest-5-ts', 'run'),
      consumerEnv('vitest-5-ts', {
        KUBECACHE_CONSUMER_MODE: 'hang',
        KUBECACHE_CONSUMER_REPORT: report,
      }),
      { detached: true },
    );
    children.push(run.child);
    await until('the hanging test to hold both caches', () => readReport(report).length === 2);
    const used = readReport(report).map((e) => e.pod);
    // Besides the two in use there may be pods prestarted from what the
    // previous run used: teardown must delete those too.
    expect(await pods(ns)).toEqual(expect.arrayContaining(used));
    const pid = run.child.pid as number;
    process.kill(target === 'group' ? -pid : pid, 'SIGINT');
    return run.done;
  }

  it('leaves 0 pods after SIGINT to the whole process group (Ctrl-C)', async () => {
    const { output, code, signal } = await interrupted('group');
    expect(output).toContain('[kubecache] SIGINT: deleting');
    // Ended by the interrupt, not by passing: Vitest exits with 130 or 1
    // (versions differ), or the re-raised signal ends it.
    expect(code !== 0 || signal === 'SIGINT', `code ${code}, signal ${signal}`).toBe(true);
    await expectAllDeleted(ns);
  }, 180_000);

  it('leaves 0 pods after SIGINT to the main process only', async () => {
    const { output } = await interrupted('main');
    expect(output).toContain('[kubecache] SIGINT: deleting');
    await expectAllDeleted(ns);
  }, 180_000);
});

describe('Vitest watch mode', () => {
  const ns = namespaceFor('vitest-5-ts');
  beforeAll(async () => {
    prepare('vitest-5-ts');
    await ensureNamespace(ns);
  }, 300_000);
  afterAll(async () => {
    await deleteNamespace(ns);
  });

  it('reuses pods across reruns, deletes the ones a rerun no longer uses, and none are left after close', async () => {
    const run = start(
      'vitest-5-ts',
      ['watch-rerun.mjs'],
      consumerEnv('vitest-5-ts', { KUBECACHE_CONFIG: 'kubecache.watch.config.mjs' }),
    );
    children.push(run.child);
    const steps = createInterface({ input: run.child.stdout as NodeJS.ReadableStream });
    const counts: Record<string, string[]> = {};
    for await (const line of steps) {
      const m = /^STEP (\S+)/.exec(line);
      if (!m?.[1]) continue;
      // Deletes (a rerun's, close's) return without waiting for the kubelet
      // to finish: count the pods not being deleted. After close, every pod
      // must be gone soon after.
      counts[m[1]] =
        m[1] === 'closed'
          ? await eventuallyEmpty(() => pods(ns, { deleting: true }))
          : (await pods(ns, { deleting: false })).sort();
      if (m[1] === 'closed') break;
      run.child.stdin?.write('\n');
    }
    const { code, output } = await run.done;
    expect(code, output).toBe(0);
    // Every step was seen, in order: a missing one would make its checks below pass on [].
    expect(Object.keys(counts)).toEqual([
      'initial',
      'rerun-one',
      'rerun-one-again',
      'rerun-all',
      'closed',
    ]);
    const initial = counts.initial ?? [];
    // Both engines in up to four pool slots, plus the unseeded scratch redis.
    expect(initial.length).toBeGreaterThanOrEqual(4);
    // Rerunning one file keeps every pod and reuses its slot's: Vitest picks
    // the slot, and only a slot that ran none of that file's caches before
    // (a slot that ran just the node-redis file) starts that file's pair.
    const rerunOne = counts['rerun-one'] ?? [];
    expect(initial.every((p) => rerunOne.includes(p))).toBe(true);
    expect(rerunOne.filter((p) => !initial.includes(p)).length).toBeLessThanOrEqual(2);
    // The next rerun drops the pods that the previous (one-file) run did not use.
    expect((counts['rerun-one-again'] ?? []).length).toBeLessThan(initial.length);
    expect((counts['rerun-one-again'] ?? []).every((p) => rerunOne.includes(p))).toBe(true);
    expect(output).toContain('[kubecache] rerun: deleting');
    // A full rerun never holds more pods than the first full run did.
    // (give or take the one pair a differently assigned slot may start).
    expect((counts['rerun-all'] ?? []).length).toBeLessThanOrEqual(initial.length + 2);
    expect(counts.closed).toEqual([]);
  }, 300_000);
});
