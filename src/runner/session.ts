import { Broker } from '../broker/broker.js';
import { type BrokerApi, startBrokerApi } from '../broker/http-api.js';
import { planPrestart, readRecord, recordOf, recordPath, writeRecord } from '../broker/prestart.js';
import type { AcquireRequest, CacheLease } from '../broker/types.js';
import { unknownEnvWarnings } from '../config/env.js';
import { stableStringify } from '../names.js';
import { ENV_BROKER_TOKEN, ENV_BROKER_URL } from '../worker/broker-client.js';
import { type Connection, ENV_BROKER_SEEDS } from '../worker/connection.js';
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
  readonly broker: Broker;
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
  broker: Broker;
  api: BrokerApi;
  config: LoadedConfig;
  connection: Connection;
  /** Lease ids handed out since the last rerun began. */
  used: Set<string>;
  /** Where this run's requests are recorded for the next run's default prestart. */
  record: string;
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
    broker: running.broker,
    config,
    rerun: () => rerun(running),
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
  prestart: { record: string; workers: number | undefined },
): Promise<Running> {
  const broker = await Broker.start(config.options);
  // From here on a signal must delete what the run creates, startup included.
  const stopEarly = teardownBeforeSignalExit(() => broker.teardown(), broker.progress);
  if (config.file) broker.progress(`[kubecache] using ${config.file}`);
  // Printed even with KUBECACHE_QUIET: a misspelled variable changes nothing silently.
  for (const warning of unknownEnvWarnings(process.env)) {
    process.stderr.write(`[kubecache] warning: ${warning}\n`);
  }
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
  const used = new Set<string>();
  // The API calls broker.acquire; recording each lease lets a watch-mode
  // rerun delete the pods that the previous run no longer asked for.
  const tracked = new Proxy(broker, {
    get(target, prop, receiver) {
      if (prop === 'acquire') {
        return async (req: AcquireRequest): Promise<CacheLease> => {
          const lease = await target.acquire(req);
          used.add(lease.id);
          return lease;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  let api: BrokerApi;
  try {
    api = await startBrokerApi(tracked);
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
    broker,
    api,
    config,
    connection,
    used,
    record: prestart.record,
    stopSignals: () => {},
    restoreEnv: exportEnv ? exportToEnv(connection) : () => {},
  };
  running.stopSignals = teardownBeforeSignalExit(() => close(running), broker.progress);
  stopEarly();
  return running;
}

/** Workers spawned after this point inherit the connection through their environment. */
function exportToEnv(connection: Connection): () => void {
  const values: Record<string, string> = {
    [ENV_BROKER_URL]: connection.url,
    [ENV_BROKER_TOKEN]: connection.token,
    [ENV_BROKER_SEEDS]: JSON.stringify(connection.seeds),
  };
  const before = Object.fromEntries(Object.keys(values).map((k) => [k, process.env[k]]));
  Object.assign(process.env, values);
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

async function rerun(running: Running): Promise<void> {
  const stale = running.broker.liveLeases().filter((lease) => !running.used.has(lease.id));
  running.used.clear();
  if (stale.length === 0) return;
  running.broker.progress(
    `[kubecache] rerun: deleting ${stale.length} cache pod(s) the last run did not use: ${stale.map((l) => l.podName).join(', ')}`,
  );
  await Promise.all(stale.map((lease) => running.broker.release(lease.id, { destroy: true })));
}

function close(running: Running): Promise<void> {
  running.closed ??= (async () => {
    running.stopSignals();
    try {
      await running.api.close();
    } finally {
      running.restoreEnv();
      // A run that asked for nothing (it failed early, or no file ran) keeps the old record.
      if (running.broker.requests.length > 0) {
        writeRecord(running.record, recordOf(running.broker.requests));
      }
      await running.broker.teardown();
    }
  })();
  return running.closed;
}
