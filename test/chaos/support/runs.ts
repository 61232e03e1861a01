import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker, type BrokerOptions } from '../../../src/broker/broker.js';
import type { CacheLease } from '../../../src/broker/types.js';
import {
  closeMemcachedClient,
  createMemcachedClient,
} from '../../../src/engines/memcached/client.js';
import { closeRedisClient, createRedisClient } from '../../../src/engines/redis/client.js';
import { LABEL_RUN } from '../../../src/names.js';
import { adminCore, adminKubeconfigPath, ensureNamespace } from '../../support/cluster.js';
import { sleep } from './control-plane.js';

const here = dirname(fileURLToPath(import.meta.url));
const runFixture = join(here, '..', 'fixtures', 'chaos-run.mjs');

/** Short leases, so the leftovers of killed runs expire within a scenario. */
export const CHAOS_TIMEOUTS = { leaseMs: 15_000, leaseRenewMs: 4_000 };

export function chaosOptions(namespace: string, extra: BrokerOptions = {}): BrokerOptions {
  return {
    namespace,
    kubeconfig: adminKubeconfigPath(),
    ...extra,
    timeouts: { ...CHAOS_TIMEOUTS, ...extra.timeouts },
  };
}

export interface StartedBroker {
  broker: Broker;
  lines: string[];
}

export async function startBroker(
  namespace: string,
  extra: BrokerOptions = {},
): Promise<StartedBroker> {
  await ensureNamespace(namespace);
  const lines: string[] = [];
  const broker = await Broker.start({
    ...chaosOptions(namespace, extra),
    progress: (l) => lines.push(l),
  });
  return { broker, lines };
}

// Any object of any kubecache run: by the run label's presence, so an object
// that lost (or never got) the managed-by label still counts.
const ANY_RUN = LABEL_RUN;

/** kubecache pods in the namespace (of one run, or of any), terminating ones included. */
/** kubecache's pods (of one run); `live` leaves out the pods being deleted. */
export async function podNames(
  namespace: string,
  runId?: string,
  opts: { live?: boolean } = {},
): Promise<string[]> {
  const selector = runId ? `${LABEL_RUN}=${runId}` : ANY_RUN;
  const list = await adminCore().listNamespacedPod({ namespace, labelSelector: selector });
  return list.items
    .filter((p) => !opts.live || !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name ?? '');
}

export async function secretNames(namespace: string, runId?: string): Promise<string[]> {
  const selector = runId ? `${LABEL_RUN}=${runId}` : ANY_RUN;
  const list = await adminCore().listNamespacedSecret({ namespace, labelSelector: selector });
  return list.items.map((s) => s.metadata?.name ?? '');
}

interface Left {
  /** How long it took until nothing was left, or undefined if it never was. */
  ms: number | undefined;
  pods: string[];
  secrets: string[];
}

/** Polls until no kubecache pod or Secret is left; returns how long that took, or undefined. */
export function waitNothingLeft(namespace: string, limitMs: number, runId?: string): Promise<Left> {
  return waitUntilClear(namespace, limitMs, runId, false);
}

/**
 * Polls until every kubecache pod is deleted or being deleted (no pod without
 * a deletion timestamp) and no Secret is left: what the run itself must do.
 * Removing a deleted pod is then the kubelet's part, which after an API
 * server restart can lag a minute (see scenario 2).
 */
export function waitNothingLive(namespace: string, limitMs: number, runId?: string): Promise<Left> {
  return waitUntilClear(namespace, limitMs, runId, true);
}

async function waitUntilClear(
  namespace: string,
  limitMs: number,
  runId: string | undefined,
  live: boolean,
): Promise<Left> {
  const t0 = Date.now();
  let pods: string[] = [];
  let secrets: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    try {
      pods = await podNames(namespace, runId, { live });
      secrets = await secretNames(namespace, runId);
      if (pods.length === 0 && secrets.length === 0) return { ms: Date.now() - t0, pods, secrets };
    } catch {
      // The API server may still be coming back.
    }
    if (Date.now() - t0 > limitMs) break;
    await sleep(250);
  }
  return { ms: undefined, pods, secrets };
}

export async function deleteChaosNamespace(namespace: string): Promise<void> {
  await adminCore()
    .deleteNamespace({ name: namespace })
    .catch(() => undefined);
}

/** Runner figures for leak checks. */
export function processFigures(): { rssMb: number; heapMb: number; fds: number } {
  const mem = process.memoryUsage();
  return {
    rssMb: Math.round(mem.rss / 1024 / 1024),
    // Live JavaScript objects and the Buffers they hold (after a forced GC).
    heapMb: Math.round((mem.heapUsed + mem.external) / 1024 / 1024),
    fds: readdirSync('/proc/self/fd').length,
  };
}

export interface ChildRun {
  child: ChildProcess;
  stderr: () => string;
  /** The broker is up (it printed its run id): from here on it creates pods. */
  started: Promise<void>;
  /** The JSON line the run prints once its caches are ready. */
  ready: Promise<{
    runId: string;
    leases: {
      podName: string;
      podIP: string;
      host: string;
      port: number;
      auth?: { username: string; password: string };
    }[];
  }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts test/chaos/fixtures/chaos-run.mjs (needs dist/, built by npm test). */
export function spawnRun(options: BrokerOptions, caches: string[]): ChildRun {
  const child = spawn(process.execPath, [runFixture, JSON.stringify(options), ...caches], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECACHE_QUIET: '0' },
  });
  let err = '';
  let out = '';
  let onStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    onStarted = resolve;
  });
  child.stderr?.on('data', (d) => {
    err += d.toString();
    if (/(^|\n)run \w+/.test(err)) onStarted();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<Awaited<ChildRun['ready']>>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      out += d.toString();
      const i = out.indexOf('\n');
      if (i >= 0) {
        try {
          resolve(JSON.parse(out.slice(0, i)));
        } catch (e) {
          reject(e);
        }
      }
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`run exited (${code ?? signal}) before its caches were ready: ${err}`)),
    );
  });
  ready.catch(() => {});
  return { child, stderr: () => err, started, ready, exited };
}

/** Resolves with `value` after `ms`, or earlier with the promise's outcome. */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ value?: T; error?: unknown; timedOut: boolean; ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const r = await Promise.race([promise.then((value) => ({ value })), timeout]);
    if (r === 'timeout') return { timedOut: true, ms: Date.now() - t0 };
    return { value: r.value, timedOut: false, ms: Date.now() - t0 };
  } catch (error) {
    return { error, timedOut: false, ms: Date.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

/** A seeded generator, so "random moments" are the same in every run. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** ioredis options for a lease's login (redis caches are locked by default). */
export function login(creds: { username: string; password: string } | undefined): {
  username?: string;
  password?: string;
} {
  return creds ? { username: creds.username, password: creds.password } : {};
}

/** Whether a handed-out cache works: PING for redis, a set and get for memcached. */
export async function cacheAnswers(lease: CacheLease): Promise<boolean> {
  const endpoint = { host: lease.host, port: lease.port };
  if (lease.engine === 'memcached') {
    const client = createMemcachedClient(endpoint);
    try {
      await client.set('chaos-answers', 'ok', { expires: 0 });
      return (await client.get('chaos-answers')).value?.toString() === 'ok';
    } finally {
      await closeMemcachedClient(client);
    }
  }
  const client = await createRedisClient(endpoint, login(lease.auth));
  try {
    return (await client.ping()) === 'PONG';
  } finally {
    await closeRedisClient(client);
  }
}
