import type { Broker } from '../broker/broker.js';
import type { BrokerApi } from '../broker/http-api.js';
import { planPrestart, readRecord, recordOf, recordPath, writeRecord } from '../broker/prestart.js';
import type { AcquireRequest } from '../broker/types.js';
import {
  ENV_BROKER_SEEDS,
  ENV_BROKER_TOKEN,
  ENV_BROKER_URL,
  isQuiet,
  publishVars,
  unknownEnvWarnings,
  withoutEmptyVars,
} from '../config/env.js';
import { resolveClusterConfig } from '../config/options.js';
import { joinDaemon } from '../daemon/join-daemon.js';
import { stableStringify } from '../names.js';
import type { Connection } from '../worker/connection.js';
import { type LoadedConfig, loadRunnerConfig } from './config-file.js';
import { teardownBeforeSignalExit } from './signals.js';

export interface SessionInput {
  /** Where kubecache.config.* is looked for: the runner's root directory. */
  root: string;
  /** Options given in the runner's own config; they override the config file. */
  runnerOptions?: unknown;
  runnerSource?: string;
  /** Write KUBECACHE_BROKER_* into process.env for workers spawned later (Jest). */
  exportEnv?: boolean;
  /** How many test workers the runner will start: the prestart starts pods for them. */
  workers?: number;
}

/** A running broker shared by every project of one runner process that uses the same config. */
export interface Session {
  readonly connection: Connection;
  readonly config: LoadedConfig;
  /** Watch mode: deletes the pods no test asked for since the previous rerun. */
  rerun(): Promise<void>;
  /** Drops one user of the session; the last one tears the broker down. */
  release(): Promise<void>;
}

interface Shared {
  users: number;
  ready: Promise<Running>;
}

interface Running {
  config: LoadedConfig;
  connection: Connection;
  /** Where this run's requests are recorded for the next run's default prestart. */
  record: string;
  /** Watch mode: deletes the pods no test asked for since the previous rerun. */
  rerun(): Promise<void>;
  /** Ends the run (its pods deleted, or kept for the next run); returns its acquire requests. */
  finish(): Promise<AcquireRequest[]>;
  stopSignals: () => void;
  restoreEnv: () => void;
  closed?: Promise<void>;
}

// Kept on globalThis so that two copies of this module (the ESM and the
// CommonJS build, or a runner that loads setup and teardown separately)
// still share one broker per configuration.
const REGISTRY = Symbol.for('kubecache.sessions');
type Registry = Map<string, Shared>;
function registry(): Registry {
  const g = globalThis as { [REGISTRY]?: Registry };
  g[REGISTRY] ??= new Map();
  return g[REGISTRY];
}

export async function openSession(input: SessionInput): Promise<Session> {
  const config = await loadRunnerConfig({
    root: input.root,
    runnerOptions: input.runnerOptions,
    ...(input.runnerSource ? { runnerSource: input.runnerSource } : {}),
  });
  const key = stableStringify({ options: config.options, seeds: config.seeds });
  const sessions = registry();
  let shared = sessions.get(key);
  if (!shared) {
    shared = {
      users: 0,
      ready: start(config, input.exportEnv === true, {
        record: recordPath(input.root, key),
        workers: input.workers,
        root: input.root,
        configKey: key,
      }),
    };
    sessions.set(key, shared);
    shared.ready.catch(() => sessions.delete(key));
  }
  shared.users += 1;
  const entry = shared;
  const running = await entry.ready;
  let released = false;
  return {
    connection: running.connection,
    config,
    rerun: () => running.rerun(),
    async release() {
      if (released) return;
      released = true;
      entry.users -= 1;
      if (entry.users > 0) return;
      if (sessions.get(key) === entry) sessions.delete(key);
      await close(running);
    },
  };
}

async function start(
  config: LoadedConfig,
  exportEnv: boolean,
  prestart: { record: string; workers: number | undefined; root: string; configKey: string },
): Promise<Running> {
  // Printed even with KUBECACHE_QUIET: a misspelled variable changes nothing silently.
  const warnings = unknownEnvWarnings(process.env);
  const cluster = resolveClusterConfig({
    global: config.options,
    env: withoutEmptyVars(process.env),
  });
  const quiet = isQuiet(process.env);
  const progress = quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`);
  if (cluster.daemon) {
    const run = await joinDaemon({
      config,
      configKey: prestart.configKey,
      root: prestart.root,
      record: prestart.record,
      workers: prestart.workers,
      previous: prestart.workers !== undefined ? readRecord(prestart.record) : undefined,
      env: process.env,
      apiConnectMs: cluster.timeouts.apiConnectMs,
      progress,
    });
    if (run) {
      if (config.file) progress(`[kubecache] using ${config.file}`);
      for (const warning of warnings) process.stderr.write(`[kubecache] warning: ${warning}\n`);
      progress(`[kubecache] run ${run.runId} on the kubecache daemon (pid ${run.pid})`);
      // Quiet: nothing to print, so nothing to ask for while the run goes on.
      if (!quiet) run.follow();
      return onDaemon(config, exportEnv, prestart.record, run, progress);
    }
  }
  // Loaded only for a broker in this process: with a daemon, the runner
  // never loads the Kubernetes client.
  const [{ Broker }, { startBrokerApi }, { trackAcquires, deleteUnused }] = await Promise.all([
    import('../broker/broker.js'),
    import('../broker/http-api.js'),
    import('../broker/run-tracking.js'),
  ]);
  const broker = await Broker.start(config.options, cluster);
  // From here on a signal must delete what the run creates, startup included.
  const stopEarly = teardownBeforeSignalExit(() => broker.teardown(), broker.progress);
  if (config.file) broker.progress(`[kubecache] using ${config.file}`);
  for (const warning of warnings) process.stderr.write(`[kubecache] warning: ${warning}\n`);
  // Pods start now, while the runner boots its workers and collects tests.
  if (prestart.workers !== undefined) {
    broker.prestart(
      planPrestart({
        option: broker.cluster.prestart,
        workers: prestart.workers,
        previous: readRecord(prestart.record),
        seeds: config.seeds,
      }),
    );
  }
  // Lease ids handed out since the last rerun began.
  const used = new Set<string>();
  let api: BrokerApi;
  try {
    api = await startBrokerApi(trackAcquires(broker, used));
  } catch (err) {
    stopEarly();
    await broker.teardown();
    throw err;
  }
  const connection: Connection = {
    url: api.url,
    token: api.token,
    seeds: config.seeds,
    runId: broker.runId,
    namespace: broker.handle.namespace,
  };
  const running: Running = {
    config,
    connection,
    record: prestart.record,
    rerun: () => deleteUnused(broker, used),
    finish: () => finishInProcess(broker, api),
    stopSignals: () => {},
    restoreEnv: exportEnv ? exportToEnv(connection) : () => {},
  };
  running.stopSignals = teardownBeforeSignalExit(() => close(running), broker.progress);
  stopEarly();
  return running;
}

async function finishInProcess(broker: Broker, api: BrokerApi): Promise<AcquireRequest[]> {
  try {
    await api.close();
  } finally {
    await broker.teardown();
  }
  return broker.requests;
}

/** This run on the project's daemon: its end hands the pods back to the daemon. */
function onDaemon(
  config: LoadedConfig,
  exportEnv: boolean,
  record: string,
  run: Awaited<ReturnType<typeof joinDaemon>> & object,
  progress: (line: string) => void,
): Running {
  const connection: Connection = {
    url: run.url,
    token: run.token,
    seeds: config.seeds,
    runId: run.runId,
    namespace: run.namespace,
  };
  const running: Running = {
    config,
    connection,
    record,
    rerun: () => run.rerun(),
    finish: async () => {
      try {
        return (await run.end()).requests;
      } catch (err) {
        // The daemon ends the run itself once it sees this process gone.
        progress(
          `[kubecache] could not end the run on the kubecache daemon (pid ${run.pid}): ${(err as Error).message}`,
        );
        return [];
      }
    },
    stopSignals: () => {},
    restoreEnv: exportEnv ? exportToEnv(connection) : () => {},
  };
  running.stopSignals = teardownBeforeSignalExit(() => close(running), progress);
  return running;
}

/** Workers spawned after this point inherit the connection through their environment. */
function exportToEnv(connection: Connection): () => void {
  return publishVars({
    [ENV_BROKER_URL]: connection.url,
    [ENV_BROKER_TOKEN]: connection.token,
    [ENV_BROKER_SEEDS]: JSON.stringify(connection.seeds),
  });
}

function close(running: Running): Promise<void> {
  running.closed ??= (async () => {
    running.stopSignals();
    running.restoreEnv();
    const requests = await running.finish();
    // A run that asked for nothing (it failed early, or no file ran) keeps the old record.
    if (requests.length > 0) writeRecord(running.record, recordOf(requests));
  })();
  return running.closed;
}
