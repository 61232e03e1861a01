import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminKubeconfigPath } from './cluster.js';

// Runs of a script runner on the kubecache daemon, each in its own process
// (test/integration/fixtures/daemon-run.mjs, the built package), for the
// integration and chaos tests of the daemon.

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE = join(here, '..', 'integration', 'fixtures', 'daemon-run.mjs');
const SEED = join(here, '..', 'fixtures', 'basic.json');

export interface DaemonProject {
  root: string;
  env: NodeJS.ProcessEnv;
}

/** A project directory of its own (so its own daemon), with reuse and the daemon on. */
export function daemonProject(
  namespace: string,
  extra: Record<string, string> = {},
): DaemonProject {
  const root = mkdtempSync(join(tmpdir(), 'kc-daemon-'));
  // The daemon's files live in the project's node_modules/.cache.
  mkdirSync(join(root, 'node_modules'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    KUBECONFIG: adminKubeconfigPath(),
    KUBECACHE_NAMESPACE: namespace,
    KUBECACHE_REUSE: '1',
    KUBECACHE_DAEMON: '1',
    ...extra,
  };
  return { root, env };
}

/** The project's daemon file (its pid, and the URL and token of its API), if there is one. */
export function daemonDescriptor(
  p: DaemonProject,
): { pid: number; url: string; token: string } | undefined {
  const dir = join(p.root, 'node_modules', '.cache', 'kubecache');
  let name: string | undefined;
  try {
    name = readdirSync(dir).find((n) => /^daemon-.*\.json$/.test(n));
  } catch {
    return undefined;
  }
  return name ? JSON.parse(readFileSync(join(dir, name), 'utf8')) : undefined;
}

/** The pid in the project's daemon file, if there is one. */
export function daemonPid(p: DaemonProject): number | undefined {
  return daemonDescriptor(p)?.pid;
}

export interface RunPlan {
  write?: [string, string];
  read?: string[];
  /** Wait for release() before stopping. */
  hold?: boolean;
  /** SIGKILL itself instead of stopping. */
  crash?: boolean;
}

export interface RunOutput {
  pod: string;
  url: string;
  values: Record<string, string | null>;
}

export interface StartedRun {
  /** The runner's process. */
  pid: number;
  /** What the run printed once its cache was open. */
  first: Promise<RunOutput>;
  done: Promise<{ code: number | null; ms: number; stderr: string }>;
  release(): void;
  kill(): void;
  /** What the run has printed on stderr so far. */
  stderr(): string;
}

export function startDaemonRun(p: DaemonProject, plan: RunPlan = {}): StartedRun {
  const t0 = Date.now();
  const child = spawn(
    process.execPath,
    [FIXTURE, JSON.stringify({ root: p.root, seed: SEED, ...plan })],
    {
      cwd: p.root,
      env: p.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  const first = new Promise<RunOutput>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) resolve(JSON.parse(line) as RunOutput);
    });
    child.on('exit', (code) => reject(new Error(`run exited (${code}) first:\n${stderr}`)));
  });
  // Awaited or not, a run that fails before its line must not be an unhandled rejection.
  first.catch(() => {});
  const done = new Promise<{ code: number | null; ms: number; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, ms: Date.now() - t0, stderr })),
  );
  return {
    pid: child.pid ?? 0,
    first,
    done,
    release: () => child.stdin.write('go\n'),
    kill: () => child.kill('SIGKILL'),
    stderr: () => stderr,
  };
}
