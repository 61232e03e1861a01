import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import createDebug from 'debug';
import type { RunRecord } from '../broker/prestart.js';
import { withoutBrokerVars } from '../config/env.js';
import { retryUntil } from '../deadline.js';
import { fromJSON, isKubecacheError } from '../errors.js';
import type { LoadedConfig } from '../runner/config-file.js';
import { brokerRequest } from '../worker/broker-client.js';
import type { DaemonSpec } from './daemon-process.js';
import {
  buildStamp,
  type Descriptor,
  daemonFiles,
  daemonKey,
  processAlive,
  pruneDaemonLogs,
  readDescriptor,
} from './descriptor.js';
import {
  type BeginReply,
  type EndReply,
  LINES_WAIT_MS,
  type Lines,
  type LinesReply,
} from './protocol.js';
import { RunLines } from './run-lines.js';

// The runner's side of the daemon (daemon-process.ts): find the project's
// daemon, or start one, and run this run on it. Anything short of a clear
// kubecache error (no daemon answer, a daemon busy with another run) makes
// the runner fall back to a broker of its own, so a daemon can only save
// time, never cost a run.

const debug = createDebug('kubecache:daemon');

/** A daemon that is up answers a run's start within this (it only plans, starts nothing on the path). */
const BEGIN_MS = 5_000;
/** A new daemon connects to the cluster before it answers: the API connect bound, plus its start. */
const SPAWN_EXTRA_MS = 15_000;
/** Ending a run waits for the pods still starting to settle. */
const END_MS = 60_000;
/** A long poll for lines answers within LINES_WAIT_MS; this is its slack. */
const POLL_SLACK_MS = 5_000;
/** Polls that failed in a row before the runner stops asking (end() still gets the lines). */
const POLL_FAILURES = 3;

export interface DaemonRun {
  url: string;
  token: string;
  runId: string;
  namespace: string;
  pid: number;
  /**
   * Prints the run's progress lines as the daemon has them (the start's
   * first), until end() or the run is over: a pod that dies mid-run is said
   * when it happens, not at the end.
   */
  follow(): void;
  /** Ends the run on the daemon, printing the lines not printed yet. */
  end(): Promise<EndReply>;
  /** Deletes the pods the last run did not use (a watch-mode rerun). */
  rerun(): Promise<void>;
}

export interface JoinInput {
  config: LoadedConfig;
  configKey: string;
  root: string;
  /** The project's prestart record: the daemon's files live next to it. */
  record: string;
  workers: number | undefined;
  previous: RunRecord | undefined;
  env: NodeJS.ProcessEnv;
  apiConnectMs: number;
  progress: (line: string) => void;
}

/** The daemon's entry file; absent when kubecache runs from its TypeScript sources (its own unit tests). */
function entryFile(): string | undefined {
  const file = fileURLToPath(new URL('./daemon-process.js', import.meta.url));
  return existsSync(file) ? file : undefined;
}

/**
 * This run, on the project's daemon (started if there is none). Undefined:
 * run a broker in this process instead (the reason is on the progress output
 * or the debug log). Throws what stopped a new daemon from starting, which
 * is what an in-process broker would have thrown (no cluster, no namespace).
 */
export async function joinDaemon(input: JoinInput): Promise<DaemonRun | undefined> {
  const entry = entryFile();
  if (!entry) return undefined;
  const key = daemonKey({
    root: input.root,
    configKey: input.configKey,
    build: buildStamp(entry),
    env: input.env,
  });
  const files = daemonFiles(input.record, key);
  const known = readDescriptor(files.descriptor);
  if (known) {
    const run = await begin(known, input);
    if (run !== 'unreachable') return run;
    if (processAlive(known.pid)) {
      input.progress(
        `[kubecache] the kubecache daemon (pid ${known.pid}) does not answer; this run starts its own broker. To stop that daemon: kill ${known.pid}`,
      );
      return undefined;
    }
    debug('daemon %d is gone; starting another', known.pid);
    rmSync(files.descriptor, { force: true });
  }
  const started = await spawnDaemon(entry, files, input);
  if (!started) return undefined;
  const run = await begin(started, input);
  return run === 'unreachable' ? undefined : run;
}

async function begin(
  d: Descriptor,
  input: JoinInput,
): Promise<DaemonRun | undefined | 'unreachable'> {
  let reply: BeginReply;
  try {
    reply = await call<BeginReply>(
      d,
      '/v1/runs',
      {
        pid: process.pid,
        ...(input.workers !== undefined ? { workers: input.workers } : {}),
        ...(input.previous ? { previous: input.previous } : {}),
      },
      BEGIN_MS,
    );
  } catch (err) {
    if (isKubecacheError(err, 'BROKER')) {
      // Busy with a concurrent run of the project: runs never share pods.
      input.progress(`[kubecache] ${(err as Error).message} This run starts its own broker.`);
      return undefined;
    }
    debug('daemon %d did not answer: %s', d.pid, (err as Error).message);
    return 'unreachable';
  }
  const printed = new RunLines(input.progress);
  let following = false;
  const poll = async (): Promise<void> => {
    while (following) {
      // POLL_FAILURES failed asks in a row end the polling; a reply starts the count again.
      const lines = await retryUntil(
        () =>
          call<LinesReply>(
            d,
            '/v1/runs/lines',
            { pid: process.pid, from: printed.seen },
            LINES_WAIT_MS + POLL_SLACK_MS,
            true,
          ),
        {
          attempts: POLL_FAILURES,
          delayMs: () => 1_000,
          unref: true,
          shouldRetry: (err) => {
            debug('asking daemon %d for progress lines failed: %s', d.pid, (err as Error).message);
            return following;
          },
        },
      ).catch(() => undefined);
      // After end() began, its reply prints what this one holds.
      if (!lines || !following) return;
      printed.take(lines);
      if (lines.ended) return;
    }
  };
  return {
    url: d.url,
    token: d.token,
    pid: d.pid,
    runId: reply.runId,
    namespace: reply.namespace,
    follow: () => {
      printed.take(reply);
      if (following) return;
      following = true;
      void poll();
    },
    end: async () => {
      following = false;
      const ended = await call<EndReply>(
        d,
        '/v1/runs/end',
        { pid: process.pid, from: printed.seen },
        END_MS,
      );
      printed.take(ended);
      return ended;
    },
    rerun: async () => {
      printed.take(
        await call<Lines>(d, '/v1/runs/rerun', { pid: process.pid, from: printed.seen }, END_MS),
      );
    },
  };
}

function call<T>(
  d: Descriptor,
  path: string,
  body: unknown,
  timeoutMs: number,
  unref = false,
): Promise<T> {
  return brokerRequest<T>(`${d.url}${path}`, 'POST', d.token, body, timeoutMs, { unref });
}

/** Starts a daemon, detached from this process and its terminal, and waits for its one answer line. */
async function spawnDaemon(
  entry: string,
  files: { descriptor: string; log: string },
  input: JoinInput,
): Promise<Descriptor | undefined> {
  mkdirSync(dirname(files.descriptor), { recursive: true });
  for (const file of pruneDaemonLogs(dirname(files.descriptor))) debug('pruned %s', file);
  const spec: DaemonSpec = {
    version: 1,
    options: input.config.options,
    seeds: input.config.seeds,
    descriptor: files.descriptor,
  };
  // Left by an earlier session in this process: the daemon is the broker.
  const env = withoutBrokerVars(input.env);
  const logFd = openSync(files.log, 'w', 0o600);
  const child = spawn(process.execPath, [entry], {
    detached: true,
    stdio: ['pipe', 'pipe', logFd],
    env,
  });
  closeSync(logFd);
  child.stdin?.end(JSON.stringify(spec));
  const timeoutMs = input.apiConnectMs + SPAWN_EXTRA_MS;
  const line = await new Promise<string | undefined>((resolve) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    lines.once('line', (text) => {
      clearTimeout(timer);
      resolve(text);
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  child.stdout?.destroy();
  child.unref();
  let answer: { url?: string; token?: string; pid?: number; error?: unknown } | undefined;
  try {
    answer = line ? JSON.parse(line) : undefined;
  } catch {
    answer = undefined;
  }
  if (answer?.error) throw fromJSON(answer.error);
  if (!answer?.url || !answer.token || !answer.pid) {
    if (child.exitCode === null) child.kill('SIGTERM');
    input.progress(
      `[kubecache] the kubecache daemon did not start within ${timeoutMs} ms (its log: ${files.log}); this run starts its own broker.`,
    );
    return undefined;
  }
  debug('daemon %d started on %s', answer.pid, answer.url);
  return { version: 1, pid: answer.pid, url: answer.url, token: answer.token };
}
