import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import createDebug from 'debug';
import {
  type KubecacheOptions,
  type ResolvedClusterConfig,
  resolveCacheConfig,
  resolveClusterConfig,
} from '../config/options.js';
import { getEngine } from '../engines/registry.js';
import { isKubecacheError, KubecacheError } from '../errors.js';
import { connectKube, type KubeHandle } from '../kube/client.js';
import { findRunnerPod } from '../kube/owner.js';
import { buildCachePod, type PodOwner } from '../kube/pod-spec.js';
import { watchPods } from '../kube/pod-watch.js';
import { deleteAllAndWait, deletePod, describePod, renewLease } from '../kube/pods.js';
import type { PortForwardEndpoint } from '../kube/port-forward.js';
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
import { Seeder, type SeedPlan } from './seeding.js';
import type { AcquireRequest, CacheLease, LeaseStatus, TeardownReport } from './types.js';

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
}

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
  private readonly abort = new AbortController();
  private readonly stopWatch: () => void;
  private readonly renewTimer: NodeJS.Timeout;
  private readonly owner: PodOwner | undefined;
  private instance = 0;
  private readonly seeder: Seeder;
  /** Any cache's IP, so the seed endpoint can find the local address on the pod network. */
  private knownPodIP: string | undefined;
  private closed: Promise<TeardownReport> | undefined;
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
    const quiet = this.env.KUBECACHE_QUIET === '1' || this.env.KUBECACHE_QUIET === 'true';
    this.progress =
      init.options.progress ?? (quiet ? () => {} : (line) => process.stderr.write(`${line}\n`));
    this.stopWatch = watchPods(
      this.handle,
      { labelSelector: runSelector(this.runId) },
      {
        onEvent: (type, pod) => {
          if (type === 'DELETED') this.onPodDeleted(pod.metadata?.name ?? '');
        },
        onError: (err) => debug('run watch failed: %s', (err as Error).message),
      },
    );
    this.seeder = new Seeder(this.handle, this.env, this.cluster.timeouts);
    this.renewTimer = setInterval(
      () => void this.renewLeases(),
      this.cluster.timeouts.leaseRenewMs,
    );
    this.renewTimer.unref();
  }

  /**
   * Connects (failing fast when the API server does not answer), reaps the
   * expired pods of crashed runs, and returns a broker with a fresh run id.
   */
  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const env = options.env ?? process.env;
    const { progress: _p, env: _e, ...kubecacheOptions } = options;
    const cluster = resolveClusterConfig({ global: kubecacheOptions, env });
    const handle = await connectKube({
      // An explicit env (tests, tools) may name a kubeconfig the process env does not.
      kubeconfig:
        cluster.kubeconfig ?? (env === process.env ? undefined : env.KUBECONFIG?.split(':')[0]),
      context: cluster.context,
      namespace: cluster.namespaceSource === 'default' ? undefined : cluster.namespace,
      apiConnectMs: cluster.timeouts.apiConnectMs,
    });
    const runId = newRunId();
    const owner = await findRunnerPod(handle, env);
    const broker = new Broker({ runId, handle, cluster, options, env, owner });
    const reaped = await reapExpired(handle, {
      graceMs: cluster.timeouts.leaseMs,
      ownRunId: runId,
    });
    if (reaped.pods.length > 0) {
      broker.progress(
        `[kubecache] reaped ${reaped.pods.length} expired pod(s) of crashed runs: ${reaped.pods.join(', ')}`,
      );
    }
    debug('run %s on %s namespace %s', runId, handle.server, handle.namespace);
    return broker;
  }

  /** Returns this worker slot's cache, creating its pod on first use. */
  async acquire(req: AcquireRequest): Promise<CacheLease> {
    if (this.closed) throw new KubecacheError('BROKER', 'the kubecache broker is shutting down.');
    const engine = getEngine(req.engine);
    const config = resolveCacheConfig(engine.name, {
      global: this.kubecacheOptions(),
      call: req.options,
      env: this.env,
    });
    // A bad fixture must fail before any pod exists.
    const fixture = req.seed ? await this.seeder.validate(engine, req.seed, config) : undefined;
    const key = [
      engine.name,
      req.worker,
      req.name ?? '',
      configHash({ config, seed: req.seed ?? null }),
    ].join('|');
    const existing = this.byKey.get(key);
    if (existing) {
      const entry = await existing.catch(() => undefined);
      if (entry && entry.state === 'ready') return { ...entry.lease, reused: true };
    }
    const created = this.create(key, req, config, fixture);
    this.byKey.set(key, created);
    try {
      return (await created).lease;
    } catch (err) {
      if (this.byKey.get(key) === created) this.byKey.delete(key);
      throw err;
    }
  }

  private async create(
    key: string,
    req: AcquireRequest,
    config: ReturnType<typeof resolveCacheConfig>,
    fixture: RdbFixtureInfo | undefined,
    forceTransport?: 'exec',
  ): Promise<Entry> {
    const engine = getEngine(req.engine);
    this.instance += 1;
    const instance = String(this.instance);
    const worker = req.name ? `${req.worker}-${req.name}` : req.worker;
    let plan: SeedPlan | undefined;
    let podConfig = config;
    if (req.seed?.kind === 'rdb' && fixture) {
      const transport =
        forceTransport ?? this.seeder.chooseTransport(req.seed.transport, this.knownPodIP);
      plan = await this.seeder.plan({
        engine,
        args: config.args,
        file: fixture,
        transport,
        secretName: `kc-seed-${this.runId}-${instance}`,
        labels: { [LABEL_RUN]: this.runId, [LABEL_WORKER]: sanitizeLabelValue(worker) },
      });
    } else if (req.seed && engine.seededArgs.length > 0) {
      // JSON and function seeds are applied by the worker, which then keeps
      // the seeded state (redis: SAVE) so that reset can go back to it.
      podConfig = { ...config, args: [...engine.seededArgs, ...config.args] };
    }
    const pod = buildCachePod({
      engine,
      config: podConfig,
      ...(plan ? { commandOverride: plan.commandOverride, extraEnv: plan.extraEnv } : {}),
      namespace: this.handle.namespace,
      runId: this.runId,
      worker,
      instance,
      leaseExpiresAt: new Date(Date.now() + this.cluster.timeouts.leaseMs),
      host: hostname(),
      pid: process.pid,
      activeDeadlineSeconds: this.cluster.activeDeadlineSeconds,
      ...(this.owner ? { owner: this.owner } : {}),
    });
    const label = `${engine.name} worker ${req.worker}${req.name ? ` (${req.name})` : ''}${plan ? ` seeded by ${plan.transport}` : ''}`;
    let started: Awaited<ReturnType<typeof startCachePod>>;
    try {
      await plan?.beforeCreate(pod);
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
        ...(plan ? { afterCreate: plan.afterCreate, duringStart: plan.duringStart } : {}),
      });
    } catch (err) {
      await plan?.cleanup();
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
      throw err;
    } finally {
      plan?.done();
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
      url: `${engine.name}://${started.host}:${started.port}`,
      reused: false,
      ...(req.seed ? { seed: req.seed } : {}),
      timings: started.timings,
    };
    const entry: Entry = {
      lease,
      key,
      container: engine.containerName,
      state: 'ready',
      ...(started.forward ? { forward: started.forward } : {}),
    };
    this.entries.set(lease.id, entry);
    if (this.closed) {
      // Teardown began while this pod started: do not leak it.
      await this.dispose(entry, 'released');
      throw new KubecacheError(
        'BROKER',
        'the kubecache broker shut down while the cache was starting.',
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
    };
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

  private async dispose(entry: Entry, state: 'released' | 'gone', reason?: string): Promise<void> {
    entry.state = state;
    if (reason) entry.reason = reason;
    if (this.byKey.get(entry.key)) {
      const current = await this.byKey.get(entry.key)?.catch(() => undefined);
      if (current === entry) this.byKey.delete(entry.key);
    }
    await entry.forward?.close();
    if (state === 'released') {
      this.deleting.add(entry.lease.podName);
      await deletePod(this.handle, entry.lease.podName);
    }
  }

  private onPodDeleted(podName: string): void {
    if (this.deleting.delete(podName)) return;
    for (const entry of this.entries.values()) {
      if (entry.lease.podName === podName && entry.state === 'ready') {
        const reason = `pod ${podName} was deleted from outside this run (kubectl delete, eviction or activeDeadlineSeconds); the next acquire creates a fresh pod.`;
        this.progress(`[kubecache] ${reason}`);
        void this.dispose(entry, 'gone', reason);
      }
    }
  }

  private async renewLeases(): Promise<void> {
    const expiresAt = new Date(Date.now() + this.cluster.timeouts.leaseMs);
    const live = [...this.entries.values()].filter((e) => e.state === 'ready');
    await Promise.all(
      live.map((e) =>
        renewLease(this.handle, e.lease.podName, expiresAt).catch((err: unknown) =>
          debug('lease renewal of %s failed: %s', e.lease.podName, (err as Error).message),
        ),
      ),
    );
  }

  liveLeases(): CacheLease[] {
    return [...this.entries.values()].filter((e) => e.state === 'ready').map((e) => e.lease);
  }

  /**
   * Deletes every pod and secret of this run by label and waits, with the
   * delete timeout as bound, until they are gone. Idempotent.
   */
  teardown(): Promise<TeardownReport> {
    this.closed ??= this.doTeardown();
    return this.closed;
  }

  private async doTeardown(): Promise<TeardownReport> {
    const t0 = Date.now();
    this.abort.abort();
    clearInterval(this.renewTimer);
    this.stopWatch();
    const pods = [...this.entries.values()].map((e) => e.lease.podName);
    for (const entry of this.entries.values()) {
      entry.state = entry.state === 'ready' ? 'released' : entry.state;
      await entry.forward?.close();
    }
    let remaining: string[];
    try {
      ({ remaining } = await deleteAllAndWait(
        this.handle,
        runSelector(this.runId),
        this.cluster.timeouts.deleteMs,
      ));
    } finally {
      await this.seeder.close();
    }
    const ms = Date.now() - t0;
    if (remaining.length > 0) {
      this.progress(
        `[kubecache] teardown: ${remaining.length} pod(s) still terminating after ${ms} ms: ${remaining.join(', ')} (their lease expires; the next run reaps them)`,
      );
    } else if (pods.length > 0) {
      this.progress(
        `[kubecache] teardown: deleted ${pods.length} pod(s) of run ${this.runId} in ${ms} ms`,
      );
    }
    return { deletedPods: pods, remaining, ms };
  }

  private kubecacheOptions(): KubecacheOptions {
    const { progress: _p, env: _e, ...rest } = this.options;
    return rest;
  }
}
