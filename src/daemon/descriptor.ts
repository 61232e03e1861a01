import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { brokerSteeringVars } from '../config/env.js';
import { stableStringify } from '../names.js';

// Where a runner finds the daemon of its project (src/daemon): a small JSON
// file next to the prestart record, readable by its user only (it holds the
// daemon's token).

export interface Descriptor {
  version: 1;
  pid: number;
  url: string;
  token: string;
}

/**
 * Everything that must match for a run to use a daemon: the project, its
 * resolved config and seeds, the kubecache build the daemon runs (its files
 * change on every install), the Node binary, and the environment variables
 * that steer a broker (kubecache's own, KUBECONFIG). A run with any of these
 * different starts a daemon of its own.
 */
export function daemonKey(input: {
  root: string;
  configKey: string;
  build: string;
  env: NodeJS.ProcessEnv;
}): string {
  const env = brokerSteeringVars(input.env);
  return createHash('sha256')
    .update(
      stableStringify({
        root: input.root,
        config: input.configKey,
        build: input.build,
        node: process.execPath,
        env,
      }),
    )
    .digest('hex')
    .slice(0, 16);
}

/** The build a daemon entry file belongs to: its path and modification time. */
export function buildStamp(entry: string): string {
  try {
    return `${entry}@${statSync(entry).mtimeMs}`;
  } catch {
    return entry;
  }
}

/** The descriptor and log file of a key, in the directory of the project's prestart record. */
export function daemonFiles(recordFile: string, key: string): { descriptor: string; log: string } {
  const dir = dirname(recordFile);
  return { descriptor: join(dir, `daemon-${key}.json`), log: join(dir, `daemon-${key}.log`) };
}

/** A log of a daemon that is gone is kept this long after its last line, for a look after the fact. */
export const STALE_LOG_MS = 7 * 24 * 3600 * 1000;

/**
 * Deletes the logs of daemons that are gone (no descriptor beside them) and
 * wrote nothing for STALE_LOG_MS: each setting, build or Node version of a
 * project has a daemon of its own, so their logs would pile up. Housekeeping:
 * a file that cannot be read or deleted is left.
 */
export function pruneDaemonLogs(dir: string, now = Date.now()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const pruned: string[] = [];
  for (const name of names) {
    const m = /^daemon-([0-9a-f]+)\.log$/.exec(name);
    if (!m || names.includes(`daemon-${m[1]}.json`)) continue;
    const file = join(dir, name);
    try {
      if (now - statSync(file).mtimeMs < STALE_LOG_MS) continue;
      rmSync(file, { force: true });
      pruned.push(file);
    } catch {
      // Gone meanwhile, or not ours to delete.
    }
  }
  return pruned;
}

/**
 * The descriptor, or undefined when it is missing, malformed, or not the
 * user's own (a shared temp directory: another user's file must not send
 * this user's runs, and their caches, to another user's process).
 */
export function readDescriptor(path: string): Descriptor | undefined {
  try {
    if (process.getuid && statSync(path).uid !== process.getuid()) return undefined;
    const d = JSON.parse(readFileSync(path, 'utf8')) as Descriptor;
    if (
      d?.version !== 1 ||
      !Number.isSafeInteger(d.pid) ||
      typeof d.url !== 'string' ||
      !d.url.startsWith('http://127.0.0.1:') ||
      typeof d.token !== 'string'
    )
      return undefined;
    return d;
  } catch {
    return undefined;
  }
}

/** Atomic (temp file + rename) and private to the user. */
export function writeDescriptor(path: string, d: Descriptor): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(d)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes the descriptor if it still names this process (a newer daemon may have replaced it). */
export function removeOwnDescriptor(path: string, pid: number): void {
  if (readDescriptor(path)?.pid === pid) rmSync(path, { force: true });
}

/** Whether a process of this pid exists (signal 0 checks without sending). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
