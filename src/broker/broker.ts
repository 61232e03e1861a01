import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import createDebug from 'debug';
import {
  ENV_PREFIX,
  engineEnvPrefix,
  isQuiet,
  readCacheEnv,
  withoutEmptyVars,
} from '../config/env.js';
import {
  type KubecacheOptions,
  type ResolvedCacheConfig,
  type ResolvedClusterConfig,
  resolveCacheConfig,
  resolveClusterConfig,
} from '../config/options.js';
import { orFallbackAfter, sleep } from '../deadline.js';
import { getEngine } from '../engines/registry.js';
import { supervise } from '../engines/supervisor.js';
import type { EngineName, EngineServer } from '../engines/types.js';
import { isKubecacheError, KubecacheError } from '../errors.js';
import { parkPod, parkSecret } from '../kube/claim.js';
import { connectKube, type KubeHandle, kubeTargetOf } from '../kube/client.js';
import type { V1LimitRange, V1Pod } from '../kube/client-node.js';
import { fitDefaultsToLimitRanges, type ResourcePath } from '../kube/limit-range.js';
import { findRunnerPod } from '../kube/owner.js';
import { type PodDeath, podDeath } from '../kube/pod-death.js';
import { buildCachePod, type PodOwner } from '../kube/pod-spec.js';
import { watchPods } from '../kube/pod-watch.js';
import {
  deleteAll,
  deletePod,
  describePod,
  listLimitRanges,
  readLog,
  renewLease,
} from '../kube/pods.js';
import type { PortForwardEndpoint } from '../kube/port-forward.js';
import { quotaVerdict } from '../kube/quota.js';
import { PodNetworkReachability } from '../kube/reachability.js';
import { reapExpired } from '../kube/reaper.js';
import { startCachePod } from '../kube/start-cache-pod.js';
import {
  configHash,
  LABEL_RUN,
  LABEL_WORKER,
  newRunId,
  runSelector,
  sanitizeLabelValue,
} from '../names.js';
import type { RdbFixtureInfo } from '../seed/rdb-file.js';
import { CacheSecurity } from './cache-security.js';
import { runOutage } from './outages.js';
import { type PrestartItem, PrestartPool, prestartFailedSummary } from './prestart.js';
import { adoptIdlePod, reuseKey, verifyAndClear } from './reuse.js';
import { Seeder, type SeedPlan } from './seeding.js';
import type {
  AcquireRequest,
  CacheLease,
  LeaseStatus,
  OutageRequest,
  OutageResult,
  TeardownReport,
} from './types.js';

const debug = createDebug('kubecache:broker');

export interface BrokerOptions extends KubecacheOptions {
  /** Where progress lines go; defaults to stderr unless KUBECACHE_QUIET=1. */
  progress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

interface Entry {
  lease: CacheLease;
  key: string;
  container: string;
  forward?: PortForwardEndpoint;
  state: LeaseStatus['state'];
  reason?: string;
  /** Set when the run keeps its pods (reuse): the label the next run looks for. */
  reuseKey?: string;
  /** Parked for the next run at teardown: not deleted with the run's pods. */
  kept?: boolean;
  /**
   * Kept in memory by a daemon between its runs (endRun): still leased by
   * this broker, cleared again and handed out by the next run (beginRun).
   */
  warm?: boolean;
  /** Came from the warm set into this run's pool: its seed may have changed since. */
  rewarmed?: boolean;
  /** The pod's own Secret (logins, ACL), kept along with the pod. */
  authSecret?: string;
  code?: LeaseStatus['code'];
  /**
   * An outage the test asked for (outages.ts): the server is down or
   * restarting on purpose, so the pod is not dying and must not be replaced.
   */
  outage?: OutageRequest['action'];
}

/** Why a broker that is closing starts no cache, and where the user finds the cause. */
const RUN_ENDING =
  'The test run is ending (its tests finished, or it was interrupted), so no more caches start. ' +
  "A test still asking for one outlived its run; the runner's output above says why the run ended.";

/** A pod between its spec and its ready lease: renewed and torn down like a ready one. */
interface Starting {
  podName: string;
  done: Promise<unknown>;
}

/** Renewal rounds in a row with failures before the run says so on its progress output. */
const RENEW_FAILURES_BEFORE_WARNING = 2;

/**
 * The runner-process service: owns the Kubernetes client, the run's
 * identity, the cache pods and their port-forwards. Workers reach it over
 * the local HTTP API (see http-api.ts) and never load client-node.
 */
export class Broker {
  readonly runId: string;
  readonly handle: KubeHandle;
  readonly cluster: ResolvedClusterConfig;
  private readonly options: BrokerOptions;
  private readonly env: NodeJS.ProcessEnv;
  private readonly reachability = new PodNetworkReachability();
  private readonly entries = new Map<string, Entry>();
  private readonly byKey = new Map<string, Promise<Entry>>();
  private readonly deleting = new Set<string>();
  /** Pods whose create was sent and that are not ready (or failed) yet. */
  private readonly starting = new Set<Starting>();
  private renewFailureRounds = 0;
  private readonly fitReported = new Set<string>();
  private readonly abort = new AbortController();
  private readonly stopWatch: () => void;
  private readonly renewTimer: NodeJS.Timeout;
  private readonly owner: PodOwner | undefined;
  private instance = 0;
  private readonly seeder: Seeder;
  private readonly security: CacheSecurity;
  /** Any cache's IP, so the seed endpoint can find the local address on the pod network. */
  private knownPodIP: string | undefined;
  /** The namespace's LimitRanges, read once: kubecache's defaults are fitted into them. */
  private limitRanges: V1LimitRange[] = [];
  private closed: Promise<TeardownReport> | undefined;
  /** Pods started before any worker asked (prestart.ts), or why their image could not be pulled. */
  private readonly pool = new PrestartPool<Entry | PullFailed>();
  /** Prestarts that teardown cancelled while they were starting. */
  private prestartCancelled = 0;
  /** Prestarts that failed on their own, and the first one's error, for the summary at teardown. */
  private prestartFailed = 0;
  private prestartFailure: Error | undefined;
  /** Whether teardown parks the reusable pods; a daemon past its idle time deletes them. */
  private keepOnTeardown: boolean;
  /** Kept pods this run is claiming right now (reuse.ts). */
  private readonly claiming = new Set<string>();
  /** Lists of kept pods in flight, by reuse key (reuse.ts). */
  private readonly idleLists = new Map<string, Promise<V1Pod[]>>();
  /** Every acquire request of the run, for the next run's default prestart. */
  readonly requests: AcquireRequest[] = [];
  readonly progress: (line: string) => void;

  private constructor(init: {
    runId: string;
    handle: KubeHandle;
    cluster: ResolvedClusterConfig;
    options: BrokerOptions;
    env: NodeJS.ProcessEnv;
    owner: PodOwner | undefined;
  }) {
    this.runId = init.runId;
    this.handle = init.handle;
    this.cluster = init.cluster;
    this.options = init.options;
    this.env = init.env;
    this.owner = init.owner;
    this.keepOnTeardown = init.cluster.reuse;
    this.progress =
      init.options.progress ??
      (isQuiet(this.env) ? () => {} : (line) => process.stderr.write(`${line}\n`));
    this.stopWatch = watchPods(
      this.handle,
      { labelSelector: runSelector(this.runId) },
      {
        onEvent: (type, pod) => {
          if (type === 'DELETED') this.onPodDeleted(pod.metadata?.name ?? '');
          else this.onPodChanged(pod);
        },
        onError: (err, n) => debug('run watch failed (%d): %s', n, (err as Error)?.message),
      },
    );
    this.seeder = new Seeder(this.handle, this.env, this.cluster.timeouts);
    this.security = new CacheSecurity(
      this.handle,
      this.runId,
      this.cluster.activeDeadlineSeconds * 1000,
      () => this.owner?.labels,
    );
    this.renewTimer = setInterval(
      () => void this.renewLeases(),
      this.cluster.timeouts.leaseRenewMs,
    );
    this.renewTimer.unref();
  }

  /**
   * Connects (failing fast when the API server does not answer), reaps the
   * expired pods of crashed runs, and returns a broker with a fresh run id.
   * `resolved` is the cluster config of these same options and env when the
   * caller has it already (the runner resolves it to choose the daemon).
   */
  static async start(
    options: BrokerOptions = {},
    resolved?: ResolvedClusterConfig,
  ): Promise<Broker> {
    // CI systems export unset variables as empty strings: read those as unset.
    const env = withoutEmptyVars(options.env ?? process.env);
    const { progress: _p, env: _e, ...kubecacheOptions } = options;
    const cluster = resolved ?? resolveClusterConfig({ global: kubecacheOptions, env });
    const handle = await connectKube({
      ...kubeTargetOf(cluster),
      // An explicit env (tests, tools) may name a kubeconfig the process env does not.
      env,
      api: { callMs: cluster.timeouts.apiCallMs, retryMs: cluster.timeouts.apiRetryMs },
    });
    const runId = newRunId();
    // Three independent reads, side by side: global setup holds back every
    // test worker until it returns, so each round trip here is on the path.
    let reapError: Error | undefined;
    const [owner, limitRanges, reaped] = await Promise.all([
      findRunnerPod(handle, env),
      listLimitRanges(handle),
      reapExpired(handle, { graceMs: cluster.timeouts.leaseMs, ownRunId: runId }).catch(
        (err: unknown) => {
          // Reaping is housekeeping: a failure must not stop the run.
          reapError = err as Error;
          return { pods: [] as string[], secrets: [] as string[], idle: [] as string[] };
        },
      ),
    ]);
    const broker = new Broker({ runId, handle, cluster, options, env, owner });
    broker.limitRanges = limitRanges;
    broker.reportReap(reaped, reapError);
    debug('run %s on %s namespace %s', runId, handle.server, handle.namespace);
    return broker;
  }

  private reportReap(reaped: { pods: string[]; idle: string[] }, error?: Error): void {
    if (error) {
      this.progress(
        `[kubecache] could not delete the expired pods of earlier runs (${error.message}); this run goes on without them, and a later run or "npx kubecache reap" deletes them.`,
      );
    }
    const crashed = reaped.pods.filter((p) => !reaped.idle.includes(p));
    if (crashed.length > 0) {
      this.progress(
        `[kubecache] reaped ${crashed.length} expired pod(s) of crashed runs: ${crashed.join(', ')}`,
      );
    }
    if (reaped.idle.length > 0) {
      this.progress(
        `[kubecache] reaped ${reaped.idle.length} kept pod(s) idle past their idle time: ${reaped.idle.join(', ')}`,
      );
    }
  }

  /**
   * What start does for every in-process run, for a daemon's later runs:
   * deletes the expired pods of crashed runs and the kept pods past their
   * idle time. Housekeeping: a failure is only reported.
   */
  async reap(): Promise<void> {
    try {
      this.reportReap(
        await reapExpired(this.handle, {
          graceMs: this.cluster.timeouts.leaseMs,
          ownRunId: this.runId,
        }),
      );
    } catch (err) {
      this.reportReap({ pods: [], idle: [] }, err as Error);
    }
  }

  /** Returns this worker slot's cache, creating its pod on first use. */
  async acquire(req: AcquireRequest): Promise<CacheLease> {
    if (this.closed)
      throw new KubecacheError('BROKER', `the kubecache broker is shutting down. ${RUN_ENDING}`);
    const engine = getEngine(req.engine);
    const resolved = resolveCacheConfig(engine.name, {
      global: this.kubecacheOptions(),
      call: req.options,
      env: this.env,
    });
    const fitted = fitDefaultsToLimitRanges(
      resolved.resources,
      this.userSetResources(engine.name, req),
      this.limitRanges,
    );
    const config = { ...resolved, resources: fitted.resources };
    if (fitted.changes.length > 0 && !this.fitReported.has(engine.name)) {
      this.fitReported.add(engine.name);
      this.progress(
        `[kubecache] ${engine.name}: default resources fitted to the LimitRange of namespace ${this.handle.namespace}: ${fitted.changes.join(', ')}`,
      );
    }
    this.security.check(engine, config);
    // A bad fixture must fail before any pod exists.
    const fixture = req.seed ? await this.seeder.validate(engine, req.seed, config) : undefined;
    const key = acquireKey(req, config);
    const existing = this.byKey.get(key);
    if (existing) {
      const entry = await existing.catch(() => undefined);
      if (entry && entry.state === 'ready') return { ...entry.lease, reused: true };
    }
    this.requests.push(req);
    const created = this.obtain(key, req, config, fixture);
    this.byKey.set(key, created);
    try {
      return (await created).lease;
    } catch (err) {
      if (this.byKey.get(key) === created) this.byKey.delete(key);
      throw err;
    }
  }

  /**
   * Starts pods for workers that have not asked yet (global setup knows how
   * many workers there are). Failures only cost the head start: the worker's
   * own acquire then creates its pod and reports what went wrong. Except an
   * image that cannot be pulled: a new pod would pull the same image, so the
   * worker that takes such a start gets its error instead.
   */
  prestart(items: PrestartItem[]): void {
    let n = 0;
    for (const { shape, count } of items) {
      // A daemon's warm pods of the same shape are in the pool already (beginRun).
      let warm = -1;
      for (let i = 0; i < count; i++) {
        n += 1;
        const req: AcquireRequest = { ...shape, worker: `pre${n}` };
        let key: string;
        let config: ResolvedCacheConfig;
        try {
          config = resolveCacheConfig(req.engine, {
            global: this.kubecacheOptions(),
            call: req.options,
            env: this.env,
          });
          key = acquireKey(req, config);
        } catch (err) {
          debug('prestart %s skipped: %s', req.engine, (err as Error).message);
          continue;
        }
        if (warm < 0) warm = this.pool.size(poolKey(key));
        if (warm > 0) {
          warm -= 1;
          n -= 1;
          continue;
        }
        const pending = (async () => {
          const fixture = req.seed
            ? await this.seeder.validate(getEngine(req.engine), req.seed)
            : undefined;
          return this.obtain(key, req, config, fixture, false);
        })();
        this.pool.add(
          poolKey(key),
          pending.catch((err: unknown): PullFailed | undefined => {
            // Teardown cancels the starts still in flight (each deletes its
            // pod): those were unused, not failed.
            if (this.abort.signal.aborted) {
              this.prestartCancelled += 1;
              return undefined;
            }
            debug('prestart %s failed: %s', req.engine, (err as Error).message);
            this.prestartFailed += 1;
            this.prestartFailure ??= err as Error;
            return isKubecacheError(err, 'IMAGE_PULL') ? { pullFailed: err } : undefined;
          }),
        );
      }
    }
    if (n > 0) this.progress(`[kubecache] prestarting ${n} pod(s)`);
  }

  /** A prestarted pod, else a kept pod of an earlier run (reuse), else a new pod. */
  private async obtain(
    key: string,
    req: AcquireRequest,
    config: ReturnType<typeof resolveCacheConfig>,
    fixture: RdbFixtureInfo | undefined,
    fromPool = true,
  ): Promise<Entry> {
    for (let pending = fromPool ? this.pool.take(poolKey(key)) : undefined; pending; ) {
      const taken = await pending;
      if (taken && 'pullFailed' in taken) throw prestartPullError(taken.pullFailed);
      const entry = taken;
      if (entry?.rewarmed) {
        entry.rewarmed = false;
        // A daemon's warm pod with the same settings, but the fixture's
        // content may have changed since the run that kept it.
        if (entry.reuseKey !== (await reuseKey(config, req.seed))) {
          await this.dispose(entry, 'released').catch(() => {});
          pending = this.pool.take(poolKey(key));
          continue;
        }
      }
      if (entry?.state === 'ready') {
        entry.key = key;
        entry.lease = { ...entry.lease, worker: req.worker };
        debug('worker %s adopted prestarted pod %s', req.worker, entry.lease.podName);
        this.pool.adopted += 1;
        return entry;
      }
      pending = this.pool.take(poolKey(key));
    }
    const rk = this.cluster.reuse ? await reuseKey(config, req.seed) : undefined;
    const entry =
      (rk && (await this.adopt(rk, key, req, config))) ||
      (await this.create(key, req, config, fixture));
    if (rk) entry.reuseKey = rk;
    return entry;
  }

  private async adopt(
    rk: string,
    key: string,
    req: AcquireRequest,
    config: ReturnType<typeof resolveCacheConfig>,
  ): Promise<Entry | undefined> {
    const engine = getEngine(req.engine);
    const adopted = await adoptIdlePod({
      handle: this.handle,
      engine,
      config,
      key: rk,
      runId: this.runId,
      worker: req.name ? `${req.worker}-${req.name}` : req.worker,
      leaseMs: this.cluster.timeouts.leaseMs,
      reachability: this.reachability,
      progress: this.progress,
      claiming: this.claiming,
      listing: this.idleLists,
    });
    if (!adopted) return undefined;
    this.progress(
      `[kubecache] ${engine.name} worker ${req.worker}: reusing kept pod ${adopted.name} (cleared in ${adopted.ms} ms)`,
    );
    const entry: Entry = {
      lease: {
        id: randomBytes(8).toString('hex'),
        engine: engine.name,
        worker: req.worker,
        namespace: this.handle.namespace,
        podName: adopted.name,
        podIP: adopted.podIP,
        host: adopted.host,
        port: adopted.port,
        endpoint: adopted.endpoint,
        url: cacheUrl(engine, adopted.host, adopted.port, {
          ...(adopted.logins ? { login: adopted.logins.user } : {}),
        }),
        // Empty like a new pod: the worker seeds it as it would seed one.
        reused: false,
        ...(adopted.logins
          ? { auth: { ...adopted.logins.user }, admin: { ...adopted.logins.admin } }
          : {}),
        ...(req.seed ? { seed: req.seed } : {}),
        timings: { created: 0, running: 0, ready: adopted.ms },
      },
      key,
      container: engine.containerName,
      state: 'ready',
      ...(adopted.forward ? { forward: adopted.forward } : {}),
      ...(adopted.authSecret ? { authSecret: adopted.authSecret } : {}),
    };
    this.entries.set(entry.lease.id, entry);
    if (this.closed) {
      await this.dispose(entry, 'released');
      throw new KubecacheError(
        'BROKER',
        `the kubecache broker shut down while the cache was starting. ${RUN_ENDING}`,
      );
    }
    return entry;
  }

  /**
   * A daemon's run ends (src/daemon): the pods that can be reused stay
   * leased by this broker, warm in memory, and no API call is made for
   * them; the others are deleted. Prestarted pods no worker took are kept
   * too. The next beginRun hands them out after a clear.
   */
  async endRun(): Promise<{ requests: AcquireRequest[]; kept: string[] }> {
    const pending = [...this.byKey.values(), ...this.pool.drain()];
    await Promise.allSettled(pending);
    const requests = this.requests.splice(0);
    this.byKey.clear();
    this.pool.reset();
    this.prestartCancelled = 0;
    this.prestartFailed = 0;
    this.prestartFailure = undefined;
    const kept: string[] = [];
    const dropped: Entry[] = [];
    for (const e of this.entries.values()) {
      if (e.state !== 'ready') continue;
      if (e.reuseKey && !e.outage) {
        e.warm = true;
        kept.push(e.lease.podName);
      } else dropped.push(e);
    }
    await Promise.all(dropped.map((e) => this.dispose(e, 'released').catch(() => {})));
    // Leases of earlier runs are of no use to anyone now.
    for (const [id, e] of this.entries) if (e.state !== 'ready') this.entries.delete(id);
    return { requests, kept };
  }

  /**
   * A daemon's next run begins: each warm pod is checked and emptied (as a
   * kept pod is, reuse.ts) while the runner boots its workers, and waits in
   * the prestart pool under its settings for the first worker that asks.
   */
  beginRun(): void {
    for (const e of this.entries.values()) {
      if (e.state !== 'ready' || !e.warm) continue;
      e.warm = false;
      this.pool.add(poolKey(e.key), this.rewarm(e), { counted: false });
    }
  }

  private async rewarm(e: Entry): Promise<Entry | undefined> {
    const t0 = Date.now();
    const engine = getEngine(e.lease.engine);
    try {
      await verifyAndClear(
        engine,
        { host: e.lease.host, port: e.lease.port },
        e.lease.admin !== undefined,
        e.lease.admin,
      );
    } catch (err) {
      this.progress(
        `[kubecache] kept pod ${e.lease.podName} did not answer correctly (${(err as Error).message.split('\n')[0]}); deleting it and starting another`,
      );
      await this.dispose(e, 'released').catch(() => {});
      return undefined;
    }
    // Died or deleted while it was being cleared: the watch turned it gone.
    if (e.state !== 'ready') return undefined;
    this.entries.delete(e.lease.id);
    e.lease = { ...e.lease, id: randomBytes(8).toString('hex'), reused: false };
    e.rewarmed = true;
    this.entries.set(e.lease.id, e);
    this.progress(
      `[kubecache] ${engine.name}: reusing warm pod ${e.lease.podName} (cleared in ${Date.now() - t0} ms)`,
    );
    return e;
  }

  /** Teardown deletes the reusable pods instead of parking them: their idle time is over. */
  discardKept(): void {
    this.keepOnTeardown = false;
  }

  /** Prestarted pods that no worker took, and with reuse every live pod, before the run's pods are deleted. */
  private async settlePool(): Promise<void> {
    const drained = await Promise.all(this.pool.drain());
    const unused = drained.filter(
      (e): e is Entry => e !== undefined && 'state' in e && e.state === 'ready',
    );
    // The starts workers took and still waited for when teardown cancelled
    // them: counted by what they came to (cancelled, not failed), and their
    // pods deleted by their own starts like the unused ones'.
    await this.pool.settled();
    const cancelled = this.prestartCancelled;
    const failed = this.prestartFailed;
    if (this.pool.started > 0) {
      const rest = this.keepOnTeardown
        ? `${unused.length} unused kept for the next run${cancelled > 0 ? `; ${cancelled} still starting, deleted` : ''}`
        : `${unused.length + cancelled} unused deleted`;
      this.progress(
        `[kubecache] prestart: ${this.pool.adopted} of ${this.pool.started} pod(s) adopted; ${rest}${failed > 0 ? `; ${prestartFailedSummary(failed, this.prestartFailure)}` : ''}`,
      );
    }
    if (!this.keepOnTeardown) {
      await Promise.all(unused.map((e) => this.dispose(e, 'released').catch(() => {})));
      return;
    }
    // In the API server's clock, like every lease the reaper judges.
    const idleUntil = new Date(this.handle.clock.now() + this.cluster.reuseIdleSeconds * 1000);
    const kept: string[] = [];
    await Promise.all(
      [...this.entries.values()].map(async (e) => {
        if (e.state !== 'ready' || !e.reuseKey) return;
        try {
          await e.forward?.close();
          if (e.authSecret) {
            const logins = e.lease.admin ? { user: e.lease.auth, admin: e.lease.admin } : {};
            await parkSecret(this.handle, e.authSecret, {
              reuseKey: e.reuseKey,
              idleUntil,
              logins,
            });
          }
          await parkPod(this.handle, e.lease.podName, { reuseKey: e.reuseKey, idleUntil });
          e.state = 'released';
          e.kept = true;
          kept.push(e.lease.podName);
        } catch (err) {
          debug('keeping %s failed: %s', e.lease.podName, (err as Error).message);
        }
      }),
    );
    if (kept.length > 0) {
      this.progress(
        `[kubecache] reuse: kept ${kept.length} pod(s) for the next run, idle until ${idleUntil.toISOString()}: ${kept.join(', ')}`,
      );
    }
  }

  private async create(
    key: string,
    req: AcquireRequest,
    config: ReturnType<typeof resolveCacheConfig>,
    fixture: RdbFixtureInfo | undefined,
    forceTransport?: 'exec',
    /** Set while waiting for room in the namespace's pod quota. */
    quotaWaitUntil?: number,
  ): Promise<Entry> {
    const engine = getEngine(req.engine);
    this.instance += 1;
    const instance = String(this.instance);
    const worker = req.name ? `${req.worker}-${req.name}` : req.worker;
    let plan: SeedPlan | undefined;
    const labels = { [LABEL_RUN]: this.runId, [LABEL_WORKER]: sanitizeLabelValue(worker) };
    const secured = this.security.plan({
      engine,
      config,
      secretName: `kc-auth-${this.runId}-${instance}`,
      labels,
    });
    // kubecache's own server arguments go before the user's, which win on conflict.
    const args = [...secured.args, ...config.args];
    const podConfig = { ...config, args };
    if (req.seed?.kind === 'rdb' && fixture) {
      const transport =
        forceTransport ?? this.seeder.chooseTransport(req.seed.transport, this.knownPodIP);
      const planFor = (t: typeof transport): Promise<SeedPlan> =>
        this.seeder.plan({
          engine,
          args,
          file: fixture,
          transport: t,
          secretName: `kc-seed-${this.runId}-${instance}`,
          labels,
        });
      const auto = (req.seed.transport ?? 'auto') === 'auto' && !forceTransport;
      try {
        plan = await planFor(transport);
      } catch (err) {
        // auto picked http, but the fixture endpoint cannot start here (no
        // address to bind, port taken): exec needs no endpoint.
        if (!(auto && transport === 'http')) throw err;
        this.progress(
          `[kubecache] cannot serve the RDB fixture over http (${(err as Error).message}); seeding by exec instead`,
        );
        plan = await planFor('exec');
      }
    }
    // JSON and function seeds are applied (and on reset applied again) by the worker.
    // The server runs under the outage helpers' supervisor (engines/supervisor.ts),
    // inside whatever setup step the engine's security adds (memcached SASL).
    const argv = plan?.commandOverride ?? supervise(engine.command({ args: [...podConfig.args] }));
    const wrapped = secured.wrapCommand(argv);
    const commandOverride = plan || wrapped !== argv ? wrapped : undefined;
    const pod = buildCachePod({
      engine,
      config: podConfig,
      ...(commandOverride ? { commandOverride } : {}),
      ...(plan ? { extraEnv: plan.extraEnv } : {}),
      ...(secured.mount ? { secret: secured.mount } : {}),
      namespace: this.handle.namespace,
      runId: this.runId,
      worker,
      instance,
      leaseExpiresAt: this.leaseExpiry(),
      host: hostname(),
      pid: process.pid,
      activeDeadlineSeconds: this.cluster.activeDeadlineSeconds,
      ...(this.owner ? { owner: this.owner } : {}),
    });
    const label = `${engine.name} worker ${req.worker}${req.name ? ` (${req.name})` : ''}${plan ? ` seeded by ${plan.transport}` : ''}`;
    let started: Awaited<ReturnType<typeof startCachePod>>;
    let settle = (): void => {};
    const tracking: Starting = {
      podName: pod.metadata?.name ?? '',
      done: new Promise<void>((r) => {
        settle = r;
      }),
    };
    this.starting.add(tracking);
    try {
      if (this.closed) {
        throw new KubecacheError('BROKER', `the kubecache broker is shutting down. ${RUN_ENDING}`);
      }
      await Promise.all([plan?.beforeCreate(pod), secured.beforeCreate(pod)]);
      started = await startCachePod({
        handle: this.handle,
        engine,
        pod,
        endpoint: config.endpoint,
        timeouts: config.timeouts,
        reachability: this.reachability,
        label,
        progress: this.progress,
        signal: this.abort.signal,
        probe: { auth: config.auth, ...(secured.tls ? { tls: secured.tls } : {}) },
        afterCreate: async (created) => {
          await Promise.all([plan?.afterCreate(created), secured.afterCreate(created)]);
        },
        ...(plan ? { duringStart: plan.duringStart } : {}),
      });
    } catch (err) {
      await Promise.all([plan?.cleanup(), secured.cleanup()]);
      // The image's server refused the fixture's RDB version: say so with both versions.
      const refused = fixture ? this.seeder.explainFailure(err, fixture, config.image) : undefined;
      if (refused) throw refused;
      // auto picked http but the pod could not download: fall back to exec once.
      const auto = req.seed?.kind === 'rdb' && (req.seed.transport ?? 'auto') === 'auto';
      if (
        auto &&
        plan?.transport === 'http' &&
        isKubecacheError(err, 'CRASHED') &&
        !forceTransport
      ) {
        this.progress(
          `[kubecache] ${label}: the pod did not start from the downloaded fixture (${(err as Error).message.split('\n')[0]}); retrying with exec`,
        );
        return this.create(key, req, config, fixture, 'exec');
      }
      if (isKubecacheError(err, 'QUOTA_EXCEEDED')) {
        const waitUntil = quotaWaitUntil ?? Date.now() + config.timeouts.podRunningMs;
        const verdict = quotaVerdict(err.details.serverMessage as string, this.podCount() - 1);
        if (verdict.waitable && Date.now() < waitUntil && !this.closed) {
          if (quotaWaitUntil === undefined) {
            this.progress(
              `[kubecache] ${label}: the namespace's ResourceQuota is full (${verdict.summary}); waiting up to ${config.timeouts.podRunningMs} ms for other pods to go.`,
            );
          }
          await sleep(1_000);
          return this.create(key, req, config, fixture, forceTransport, waitUntil);
        }
        throw new KubecacheError(
          'QUOTA_EXCEEDED',
          `${err.message}\n  ${verdict.summary}.${verdict.waitable ? ` Waited ${config.timeouts.podRunningMs} ms (timeouts.podRunningMs) for room.` : ''}`,
          { ...err.details, runPods: this.podCount() - 1 },
          { cause: err },
        );
      }
      throw err;
    } finally {
      plan?.done();
      this.starting.delete(tracking);
      settle();
    }
    this.knownPodIP ??= started.podIP || undefined;
    if (engine.rdbSeeds) {
      // Learn the image's server for later RDB fixtures; never delays this lease.
      void this.seeder.learnServer(config.image, started.host, started.port, 2000);
    }
    const lease: CacheLease = {
      id: randomBytes(8).toString('hex'),
      engine: engine.name,
      worker: req.worker,
      namespace: this.handle.namespace,
      podName: started.name,
      podIP: started.podIP,
      host: started.host,
      port: started.port,
      endpoint: started.endpoint,
      url: cacheUrl(engine, started.host, started.port, {
        ...(secured.logins ? { login: secured.logins.user } : {}),
        tls: Boolean(secured.tls),
      }),
      reused: false,
      ...(secured.logins
        ? { auth: { ...secured.logins.user }, admin: { ...secured.logins.admin } }
        : {}),
      ...(secured.tls ? { tls: { ...secured.tls } } : {}),
      ...(req.seed ? { seed: req.seed } : {}),
      timings: started.timings,
    };
    const entry: Entry = {
      lease,
      key,
      container: engine.containerName,
      state: 'ready',
      ...(started.forward ? { forward: started.forward } : {}),
      ...(secured.mount ? { authSecret: secured.mount.secretName } : {}),
    };
    this.entries.set(lease.id, entry);
    if (this.closed) {
      // Teardown began while this pod started: do not leak it.
      await this.dispose(entry, 'released');
      throw new KubecacheError(
        'BROKER',
        `the kubecache broker shut down while the cache was starting. ${RUN_ENDING}`,
      );
    }
    return entry;
  }

  status(id: string): LeaseStatus {
    const entry = this.entries.get(id);
    if (!entry) {
      throw new KubecacheError('BROKER', `no cache lease ${id} in run ${this.runId}.`, { id });
    }
    return {
      id,
      state: entry.state,
      podName: entry.lease.podName,
      ...(entry.reason ? { reason: entry.reason } : {}),
      ...(entry.code ? { code: entry.code } : {}),
      ...(entry.outage === 'stop' ? { outage: 'stopped' as const } : {}),
    };
  }

  /** Stops, starts, restarts or pauses a lease's cache server on purpose (outages.ts). */
  async outage(id: string, req: OutageRequest): Promise<OutageResult> {
    const entry = this.entries.get(id);
    if (entry?.state !== 'ready') {
      throw new KubecacheError(
        'BROKER',
        `no live cache lease ${id} in run ${this.runId} to ${req.action}${entry?.reason ? `: ${entry.reason}` : '.'}`,
        { id },
      );
    }
    const engine = getEngine(entry.lease.engine);
    const config = resolveCacheConfig(engine.name, {
      global: this.kubecacheOptions(),
      env: this.env,
    });
    entry.outage = req.action;
    try {
      return await runOutage(
        {
          handle: this.handle,
          engine,
          podName: entry.lease.podName,
          container: entry.container,
          host: entry.lease.host,
          port: entry.lease.port,
          execMs: this.cluster.timeouts.execMs,
          readyMs: config.timeouts.probeMs,
          // The probe speaks what the cache was started with (TLS, SASL).
          probe: {
            auth: entry.lease.auth !== undefined,
            ...(entry.lease.tls ? { tls: entry.lease.tls } : {}),
          },
        },
        req,
      );
    } finally {
      // stop keeps the flag until start; the others are over once they return.
      if (req.action !== 'stop' && entry.outage === req.action) entry.outage = undefined;
    }
  }

  /** Events and last log lines of a lease's pod, for failure reports. */
  async describe(id: string): Promise<{ podName: string; events: string[]; logs: string }> {
    const entry = this.entries.get(id);
    if (!entry)
      throw new KubecacheError('BROKER', `no cache lease ${id} in run ${this.runId}.`, { id });
    const about = await describePod(this.handle, entry.lease.podName, entry.container, {
      running: entry.state === 'ready',
    });
    return { podName: entry.lease.podName, ...about };
  }

  /** Gives a lease back; with `destroy` its pod is deleted now instead of kept for the slot. */
  async release(id: string, opts: { destroy?: boolean } = {}): Promise<void> {
    const entry = this.entries.get(id);
    if (entry?.state !== 'ready') return;
    if (opts.destroy) await this.dispose(entry, 'released');
  }

  private async dispose(
    entry: Entry,
    state: 'released' | 'gone',
    reason?: string,
    opts: { delete?: boolean } = {},
  ): Promise<void> {
    entry.state = state;
    if (reason) entry.reason = reason;
    if (this.byKey.get(entry.key)) {
      const current = await this.byKey.get(entry.key)?.catch(() => undefined);
      if (current === entry) this.byKey.delete(entry.key);
    }
    await entry.forward?.close();
    // The entry stays for status(); its closed tunnel (sockets, buffers) need not.
    entry.forward = undefined;
    if (state === 'released' || opts.delete) {
      this.deleting.add(entry.lease.podName);
      await deletePod(this.handle, entry.lease.podName);
    }
  }

  private onPodDeleted(podName: string): void {
    if (this.deleting.delete(podName)) return;
    for (const entry of this.entries.values()) {
      if (entry.lease.podName === podName && entry.state === 'ready') {
        const reason = `pod ${podName} was deleted from outside this run (kubectl delete, eviction or activeDeadlineSeconds); the next useCache() or reset() gets a fresh pod.`;
        this.progress(`[kubecache] ${reason}`);
        entry.code = 'POD_GONE';
        void this.dispose(entry, 'gone', reason);
      }
    }
  }

  /**
   * A ready pod that died in place (OOMKilled, its server exited, evicted,
   * past activeDeadlineSeconds) is never handed out again: its lease turns
   * `gone` with the reason, which the worker's client reports as POD_DIED,
   * and the next acquire of the slot creates a new pod.
   */
  private onPodChanged(pod: V1Pod): void {
    const podName = pod.metadata?.name ?? '';
    if (this.deleting.has(podName)) return;
    for (const entry of this.entries.values()) {
      if (entry.lease.podName !== podName || entry.state !== 'ready') continue;
      const death = podDeath(pod, entry.container);
      if (death) void this.onPodDied(entry, death);
    }
  }

  private async onPodDied(entry: Entry, death: PodDeath): Promise<void> {
    const podName = entry.lease.podName;
    let reason = `${death.message} The next useCache() or reset() gets a new pod.`;
    entry.code = death.reason === 'Deleted' ? 'POD_GONE' : 'POD_DIED';
    // Gone at once for acquire; the log lines are added when they arrive.
    entry.state = 'gone';
    entry.reason = reason;
    this.progress(`[kubecache] ${reason}`);
    if (death.exited) {
      const lines = await readLog(this.handle, podName, entry.container, 10).catch(() => '');
      if (lines.trim()) {
        reason += `\n  last log lines of ${podName}:\n    ${lines.trim().split('\n').join('\n    ')}`;
        entry.reason = reason;
      }
    }
    // The dead pod only holds quota now; the lease keeps the reason.
    await this.dispose(entry, 'gone', reason, { delete: true }).catch((err: unknown) =>
      debug('deleting dead pod %s failed: %s', podName, (err as Error).message),
    );
  }

  /** A lease end time in the API server's clock, which every run judges leases by. */
  private leaseExpiry(): Date {
    return new Date(this.handle.clock.now() + this.cluster.timeouts.leaseMs);
  }

  /**
   * Renews the lease of every pod this run holds, starting ones included: a
   * pod is covered from its create to its delete. A round with failures is
   * logged; rounds failing in a row are said on the progress output, since
   * other runs may reap the pods once the lease ends.
   */
  private async renewLeases(): Promise<void> {
    const expiresAt = this.leaseExpiry();
    const names = new Set<string>();
    for (const e of this.entries.values()) if (e.state === 'ready') names.add(e.lease.podName);
    for (const s of this.starting) names.add(s.podName);
    const failures: string[] = [];
    await Promise.all(
      [...names].map((name) =>
        renewLease(this.handle, name, expiresAt).catch((err: unknown) => {
          // Not created yet, or deleted meanwhile: nothing to renew.
          if (isKubecacheError(err, 'POD_GONE')) return;
          failures.push(`${name}: ${(err as Error).message}`);
          debug('lease renewal of %s failed: %s', name, (err as Error).message);
        }),
      ),
    );
    if (failures.length === 0) {
      if (this.renewFailureRounds >= RENEW_FAILURES_BEFORE_WARNING) {
        this.progress('[kubecache] lease renewal works again.');
      }
      this.renewFailureRounds = 0;
      return;
    }
    this.renewFailureRounds += 1;
    if (this.renewFailureRounds === RENEW_FAILURES_BEFORE_WARNING) {
      this.progress(
        `[kubecache] lease renewal failed ${this.renewFailureRounds} times in a row for ${failures.length} pod(s); other runs may delete them once their lease (${this.cluster.timeouts.leaseMs} ms) ends. Last error: ${failures[0]}`,
      );
    }
  }

  liveLeases(): CacheLease[] {
    return [...this.entries.values()].filter((e) => e.state === 'ready').map((e) => e.lease);
  }

  /**
   * Deletes every pod and secret of this run by label, retrying with the
   * delete timeout as bound until every delete went through (see deleteAll:
   * the cluster finishes the stop without the run). Idempotent.
   */
  teardown(): Promise<TeardownReport> {
    this.closed ??= this.doTeardown();
    return this.closed;
  }

  private async doTeardown(): Promise<TeardownReport> {
    const t0 = Date.now();
    const budget = this.cluster.timeouts.deleteMs;
    // Cancels creates and starts in flight: each deletes its own pod on the way out.
    this.abort.abort();
    clearInterval(this.renewTimer);
    this.stopWatch();
    await this.settlePool();
    const starting = [...this.starting];
    // Pods parked for the next run (reuse) are not the run's to delete.
    const pods = new Set(
      [...this.entries.values()].filter((e) => !e.kept).map((e) => e.lease.podName),
    );
    for (const s of starting) pods.add(s.podName);
    for (const entry of this.entries.values()) {
      entry.state = entry.state === 'ready' ? 'released' : entry.state;
      await entry.forward?.close();
    }
    // A create whose answer never came may still land: wait (within the
    // budget) for the starts to settle, and delete their pods by name too.
    await orFallbackAfter(
      Promise.allSettled(starting.map((s) => s.done)),
      budget / 2,
      () => undefined,
      { unref: true },
    );
    let remaining: string[] = [];
    let remainingSecrets: string[] = [];
    await this.security.teardown();
    try {
      ({ remaining, remainingSecrets } = await deleteAll(
        this.handle,
        runSelector(this.runId),
        Math.max(1_000, budget - (Date.now() - t0)),
        { pods: [...pods] },
      ));
    } finally {
      await this.seeder.close();
    }
    const ms = Date.now() - t0;
    if (remaining.length + remainingSecrets.length > 0) {
      const ns = this.handle.namespace;
      const commands = [
        ...remaining.map((n) => `kubectl delete pod -n ${ns} ${n}`),
        ...remainingSecrets.map((n) => `kubectl delete secret -n ${ns} ${n}`),
      ];
      this.progress(
        `[kubecache] teardown: could not delete everything within timeouts.deleteMs (${budget} ms). Left: ${[...remaining, ...remainingSecrets].join(', ')}. Their lease ends within ${this.cluster.timeouts.leaseMs} ms, after which the next run in this namespace deletes them; to delete them now:\n  ${commands.join('\n  ')}`,
      );
    } else if (pods.size > 0) {
      this.progress(
        `[kubecache] teardown: deleted ${pods.size} pod(s) of run ${this.runId} in ${ms} ms`,
      );
    }
    return { deletedPods: [...pods], remaining, ms };
  }

  /** Pods this run holds now: ready ones and those starting. */
  private podCount(): number {
    return (
      [...this.entries.values()].filter((e) => e.state === 'ready').length + this.starting.size
    );
  }

  /** The resource values some layer (options, per-engine options, the call, env) sets. */
  private userSetResources(engine: EngineName, req: AcquireRequest): Set<ResourcePath> {
    const global = this.kubecacheOptions();
    const layers = [
      global.resources,
      global.engines?.[engine]?.resources,
      req.options?.resources,
      readCacheEnv(this.env, ENV_PREFIX).options.resources,
      readCacheEnv(this.env, engineEnvPrefix(engine)).options.resources,
    ];
    const set = new Set<ResourcePath>();
    for (const layer of layers) {
      for (const side of ['requests', 'limits'] as const) {
        for (const kind of ['cpu', 'memory'] as const) {
          if (layer?.[side]?.[kind] !== undefined) set.add(`${side}.${kind}`);
        }
      }
    }
    return set;
  }

  private kubecacheOptions(): KubecacheOptions {
    const { progress: _p, env: _e, ...rest } = this.options;
    return rest;
  }
}

/** A prestart whose image could not be pulled: what a worker that takes it is told. */
interface PullFailed {
  pullFailed: KubecacheError;
}

/**
 * The error of a prestarted pod that could not pull its image, for the
 * worker that takes it: a pod of its own would have the same image and
 * fail the same way, after as long a wait, so none is started.
 */
function prestartPullError(err: KubecacheError): KubecacheError {
  const [first = '', ...rest] = err.message.split('\n');
  return new KubecacheError(
    'IMAGE_PULL',
    [
      `${first}. That pod was prestarted for this cache with the same image and settings, so kubecache started no second pod: it would pull the same image.`,
      ...rest,
    ].join('\n'),
    { ...err.details, prestarted: true },
    { cause: err },
  );
}

/** Which pod a request gets: one per worker, name and settings (seed included). */
function acquireKey(req: AcquireRequest, config: ResolvedCacheConfig): string {
  return [
    req.engine,
    req.worker,
    req.name ?? '',
    configHash({ config, seed: req.seed ?? null }),
  ].join('|');
}

/** The same without the worker: prestarted pods with this key suit any worker. */
function poolKey(key: string): string {
  return key.split('|').toSpliced(1, 1).join('|');
}

/**
 * The URL users give their own clients: `redis://:password@host:port`
 * (`rediss://` with TLS) or `memcached://user:password@host:port`.
 */
export function cacheUrl(
  engine: Pick<EngineServer, 'urlScheme' | 'tlsUrlScheme'>,
  host: string,
  port: number,
  opts: { login?: { username: string; password: string }; tls?: boolean } = {},
): string {
  // An engine without TLS never gets here with tls (the broker refuses it
  // first); should it, its plain scheme is still the one its clients read.
  const scheme = (opts.tls ? engine.tlsUrlScheme : undefined) ?? engine.urlScheme;
  const url = new URL(`${scheme}://placeholder`);
  url.hostname = host.includes(':') ? `[${host}]` : host;
  url.port = String(port);
  if (opts.login) {
    // redis's `default` user logs in with the password alone.
    if (opts.login.username !== 'default') url.username = opts.login.username;
    url.password = opts.login.password;
  }
  return url.toString().replace(/\/$/, '');
}
