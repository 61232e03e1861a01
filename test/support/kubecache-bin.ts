import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminKubeconfigPath } from './cluster.js';

// The built `kubecache` bin in a child process, as users and scripts run it
// (dist/ is built by npm test before vitest), for the CLI's integration and
// chaos tests.

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../..');
export const BIN = join(REPO, 'dist', 'cli', 'main.js');

export interface BinRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Killed at its deadline: it hung. */
  hung: boolean;
}

/**
 * Runs `kubecache <args>` against the dev cluster (the admin kubeconfig, then
 * `env` on top), SIGKILLed and marked hung past `deadlineMs`. With `input`
 * stdin is a pipe that gets it (never a terminal, as in CI); without, none.
 */
export function runKubecacheBin(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; input?: string; deadlineMs: number },
): Promise<BinRun> {
  const t0 = Date.now();
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, KUBECONFIG: adminKubeconfigPath(), ...opts.env },
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, opts.deadlineMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, ms: Date.now() - t0, hung });
    });
  });
}
