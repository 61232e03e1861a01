import createDebug from 'debug';
import type { EndpointMode, Timeouts } from '../config/options.js';
import { pollUntil, retryUntil } from '../deadline.js';
import type { ProbeOptions } from '../engines/probe.js';
import type { EngineDefinition } from '../engines/types.js';
import { isKubecacheError, KubecacheError } from '../errors.js';
import type { KubeHandle } from './client.js';
import type { V1Pod } from './client-node.js';
import { watchPodEvents } from './event-watch.js';
import { execInPod } from './exec.js';
import { podIPFromHosts } from './hosts-file.js';
import {
  initialState,
  type LifecycleEvent,
  type LifecycleState,
  transition,
} from './pod-lifecycle.js';
import { failureNextStep } from './pod-status.js';
import { watchPod } from './pod-watch.js';
import { createPod, deletePod, describePod } from './pods.js';
import { type PortForwardEndpoint, startPortForward } from './port-forward.js';
import type { PodNetworkReachability } from './reachability.js';

const debug = createDebug('kubecache:start');

/**
 * Cache pods this process is starting right now (all brokers and the CLI in
 * it share one node's and one API server's CPU, so one count for the process).
 */
let startsInFlight = 0;

/**
 * Whether to read a starting pod's IP from its /etc/hosts by exec, given how
 * many starts are in flight. The exec wins up to one PLEG relist (about 1 s)
 * when one or two pods are awaited on an idle node, but each one costs the
 * API server, kubelet and runtime about 0.2 CPU-seconds (a runc exec, and an
 * event watch to time it). When more pods start at once (a prestart), the
 * node is CPU-bound: in a measured cold start of 8 pods status.podIP came
 * first for every one, and the execs only slowed the other starts and the
 * test workers booting beside them.
 */
function hostsLookupPays(inFlight: number): boolean {
  return inFlight <= 2;
}

export interface StartCachePodInput {
  handle: KubeHandle;
  engine: EngineDefinition;
  pod: V1Pod;
  endpoint: EndpointMode;
  timeouts: Timeouts;
  reachability: PodNetworkReachability;
  /** Short human label for progress lines, e.g. "redis worker 3". */
  label: string;
  progress: (line: string) => void;
  /** Called right after the API accepted the pod, e.g. to make a Secret owned by it. */
  afterCreate?: (pod: V1Pod) => Promise<void>;
  /**
   * Runs alongside the wait, e.g. to push a fixture by exec; its failure
   * fails the start. Its signal aborts once the start is over.
   */
  duringStart?: (podName: string, signal: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /** What the engine's probe must speak (TLS, SASL's binary protocol). */
  probe?: ProbeOptions;
}

export interface StageTimings {
  created: number;
  scheduled?: number;
  ip?: number;
  running?: number;
  ready: number;
}

export interface StartedCachePod {
  name: string;
  uid: string;
  podIP: string;
  endpoint: 'pod-ip' | 'port-forward';
  host: string;
  port: number;
  forward?: PortForwardEndpoint;
  timings: StageTimings;
}

/**
 * Creates a cache pod and resolves once its engine answers. The pod is
 * watched (not polled) so a failure the kubelet reports ends the wait at
 * once, and the engine is probed as soon as the pod has an IP rather than
 * after the Ready condition. On any failure the pod is deleted.
 */
export async function startCachePod(input: StartCachePodInput): Promise<StartedCachePod> {
  startsInFlight++;
  try {
    return await startCounted(input);
  } finally {
    startsInFlight--;
  }
}

async function startCounted(input: StartCachePodInput): Promise<StartedCachePod> {
  const { handle, engine, timeouts } = input;
  const t0 = Date.now();
  const created = await createPod(handle, input.pod, input.signal);
  const name = created.metadata?.name ?? '';
  const uid = created.metadata?.uid ?? '';
  const timings: Partial<StageTimings> = { created: Date.now() - t0 };
  debug('%s: created %s in %d ms', input.label, name, timings.created);

  let latest: V1Pod = created;
  let state: LifecycleState = initialState(name, engine.containerName);
  let failed: KubecacheError | undefined;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of waiters) w();
  };
  // Waits still pending when the start ends (e.g. the status IP when /etc/hosts
  // answered first) must not keep the process alive for their full timeout.
  const timers = new Set<NodeJS.Timeout>();
  const stopFns: (() => void)[] = [];
  /** Feeds the pure lifecycle machine (pod-lifecycle.ts) and carries out its actions. */
  const dispatch = (event: LifecycleEvent): void => {
    const next = transition(state, event);
    state = next.state;
    for (const action of next.actions) {
      if (action.type === 'recheck-after') {
        const recheck = setTimeout(() => {
          timers.delete(recheck);
          dispatch({ type: 'recheck', pod: latest, at: Date.now() - t0 });
        }, action.ms);
        timers.add(recheck);
      } else if (action.type === 'fail') {
        failed ??= new KubecacheError(action.failure.code, action.failure.message, {
          pod: name,
          reason: action.failure.reason,
        });
      }
    }
    timings.scheduled ??= state.timings.scheduled;
    timings.ip ??= state.timings.ip;
    timings.running ??= state.timings.running;
    notify();
  };
  const stopWatch = watchPod(handle, name, {
    resourceVersion: created.metadata?.resourceVersion,
    onEvent: (type, pod) => {
      latest = pod;
      dispatch({ type: 'observed', kind: type, pod, at: Date.now() - t0 });
    },
    // The watch retries on its own; podRunningMs bounds the start if it never recovers.
    onError: (err, n) =>
      debug('%s: watch on %s failed (%d): %s', input.label, name, n, (err as Error)?.message),
  });

  const onAbort = (): void => dispatch({ type: 'cancelled' });
  input.signal?.addEventListener('abort', onAbort, { once: true });
  if (input.signal?.aborted) onAbort();

  /**
   * Resolves when `ready(latest)` holds; rejects on pod failure or after
   * timeouts.podRunningMs, the timeout its error tells the user to raise.
   */
  const waitFor = (what: string, ready: (pod: V1Pod) => boolean): Promise<V1Pod> =>
    new Promise<V1Pod>((resolve, reject) => {
      const ms = timeouts.podRunningMs;
      const check = (): void => {
        if (failed) finish(failed);
        else if (ready(latest)) finish(null);
      };
      const finish = (err: Error | null): void => {
        waiters.delete(check);
        clearTimeout(timer);
        timers.delete(timer);
        if (err) reject(err);
        else resolve(latest);
      };
      const timer = setTimeout(
        () =>
          finish(
            new KubecacheError(
              'TIMEOUT',
              `pod ${name} did not reach "${what}" within ${ms} ms (phase ${latest.status?.phase ?? 'unknown'}). ` +
                "The pod's events below say what held it (image pull, scheduling, volume); " +
                'if the cluster is only slow, raise timeouts.podRunningMs (KUBECACHE_TIMEOUT_POD_RUNNING_MS).',
              { pod: name, stage: what, timeoutMs: ms },
            ),
          ),
        ms,
      );
      timers.add(timer);
      waiters.add(check);
      check();
    });

  /** Tries the protocol until it answers, giving up on pod failure or deadline. */
  const probeUntilReady = async (
    host: string,
    port: number,
    budgetMs = timeouts.probeMs,
  ): Promise<void> => {
    const attempts = await retryUntil(
      async (attempt) => {
        if (failed) throw failed;
        await engine.probe(host, port, timeouts.probeAttemptMs, input.probe);
        return attempt;
      },
      {
        budgetMs,
        delayMs: (attempt) => Math.min(20 * attempt, 100),
        // The pod failed (the lifecycle said so): no answer is coming. Not
        // just `err !== failed`: a probe rejecting with undefined is retried.
        shouldRetry: (err) => failed === undefined || err !== failed,
        onExhausted: (last) =>
          new KubecacheError(
            'TIMEOUT',
            `${engine.name} in pod ${name} did not answer on ${host}:${port} within ${budgetMs} ms (last error: ${(last as Error)?.message}). Raise timeouts.probeMs if the image starts slowly.`,
            { pod: name, host, port },
          ),
      },
    );
    debug(
      '%s: %s answered on %s:%d after %d attempts',
      input.label,
      engine.name,
      host,
      port,
      attempts,
    );
  };

  let forward: PortForwardEndpoint | undefined;
  // Ends what duringStart does (a push retried while the API server is away)
  // once the start is over: a failed start deletes the pod, so the work would
  // only be refused, and it must not outlive the run.
  const startOver = new AbortController();
  try {
    if (input.afterCreate) await input.afterCreate(created);
    if (input.duringStart) {
      input.duringStart(name, startOver.signal).catch((err: unknown) => {
        if (err instanceof KubecacheError) {
          failed ??= err;
          notify();
        } else dispatch({ type: 'prepare-failed', message: (err as Error).message });
      });
    }
    // The kubelet can forward into and exec in a pod as soon as its
    // container exists, well before status.podIP reaches the API (that waits
    // for the kubelet's next status sync, up to one 1 s PLEG relist). So the
    // tunnel is probed, or the IP read from the kubelet-written /etc/hosts,
    // from the moment the pod is scheduled.
    const tunnelReady = async (): Promise<PortForwardEndpoint> => {
      await waitFor('scheduled', (p) => Boolean(p.spec?.nodeName));
      const fwd = await startPortForward(handle, name, engine.port);
      forward = fwd;
      await probeUntilReady(fwd.host, fwd.port, timeouts.podRunningMs + timeouts.probeMs);
      timings.running ??= Date.now() - t0;
      return fwd;
    };
    let mode: 'pod-ip' | 'port-forward' =
      input.endpoint === 'port-forward' ||
      (input.endpoint === 'auto' && input.reachability.known === false)
        ? 'port-forward'
        : 'pod-ip';
    let podIP = '';
    if (mode === 'pod-ip') {
      let ipKnown = false;
      const fromStatus = waitFor('has an IP', (p) => Boolean(p.status?.podIP)).then(
        (p) => p.status?.podIP ?? '',
      );
      // Whether to read /etc/hosts at all is decided once the create is
      // answered (by then every start of a batch has begun; see
      // hostsLookupPays). If so, one exec when the kubelet records the
      // container as started, rather than polling exec from scheduling on.
      const lookupHosts = hostsLookupPays(startsInFlight);
      if (!lookupHosts)
        debug('%s: %d starts in flight; waiting for status.podIP', name, startsInFlight);
      const fromHosts = new Promise<string>((resolveIP, rejectIP) => {
        if (!lookupHosts) return fromStatus.then(resolveIP, rejectIP);
        let asked = false;
        const stopEvents = watchPodEvents(
          handle,
          name,
          (event) => {
            if (asked || event.reason !== 'Started') return;
            asked = true;
            stopEvents();
            void (async () => {
              // null: stop asking (the IP is known, the pod failed, or exec cannot work here).
              const ip = await pollUntil(
                async () =>
                  ipKnown || failed
                    ? null
                    : ipFromHostsFile(handle, name, engine.containerName, timeouts.execMs),
                { attempts: 5, delayMs: (attempt) => 20 * attempt },
              );
              if (ip) return resolveIP(ip);
              fromStatus.then(resolveIP, rejectIP);
            })();
          },
          () => fromStatus.then(resolveIP, rejectIP),
        );
        stopFns.push(stopEvents);
      });
      fromStatus.catch(() => {});
      fromHosts.catch(() => {});
      try {
        podIP = await Promise.race([fromStatus, fromHosts]);
      } finally {
        ipKnown = true;
      }
      timings.ip ??= Date.now() - t0;
      if (input.endpoint === 'auto') {
        const reachable = await input.reachability.check(
          podIP,
          engine.port,
          timeouts.reachabilityProbeMs,
          // The engine may not listen yet when the IP is known; a refusal is retried this long.
          timeouts.probeMs,
        );
        if (!reachable) mode = 'port-forward';
      }
    }
    let host: string;
    let port: number;
    if (mode === 'port-forward') {
      const fwd = await tunnelReady();
      host = fwd.host;
      port = fwd.port;
      podIP ||= latest.status?.podIP ?? '';
    } else {
      host = podIP;
      port = engine.port;
      await probeUntilReady(host, port, timeouts.podRunningMs + timeouts.probeMs);
    }
    dispatch({ type: 'engine-ready', at: Date.now() - t0 });
    timings.ready = Date.now() - t0;
    // An engine that answers is running even if the kubelet has not said so.
    timings.running ??= timings.ready;
    input.progress(progressLine(input.label, name, timings as StageTimings, mode, host, port));
    return {
      name,
      uid,
      podIP,
      endpoint: mode,
      host,
      port,
      ...(forward ? { forward } : {}),
      timings: timings as StageTimings,
    };
  } catch (err) {
    const e =
      err instanceof KubecacheError
        ? err
        : new KubecacheError(
            'INTERNAL',
            `starting pod ${name} failed: ${(err as Error).message}`,
            { pod: name },
            {
              cause: err,
            },
          );
    if (e.code !== 'POD_GONE') {
      const about = await describePod(handle, name, engine.containerName);
      e.details.events = about.events;
      e.details.logs = about.logs;
      e.message += `\n  events:\n    ${about.events.join('\n    ') || '(none)'}\n  last log lines:\n    ${about.logs.trim().split('\n').join('\n    ') || '(empty)'}`;
      const next = failureNextStep(e.code, engine.name);
      if (next) e.message += `\n  next: ${next}`;
    }
    await forward?.close();
    await deletePod(handle, name).catch((delErr: unknown) =>
      debug('%s: cleanup delete of %s failed: %s', input.label, name, (delErr as Error).message),
    );
    throw e;
  } finally {
    startOver.abort();
    for (const t of timers) clearTimeout(t);
    for (const stop of stopFns) stop();
    waiters.clear();
    stopWatch();
    input.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The pod IP from the container's /etc/hosts: undefined while the container
 * is not running yet (try again), null when exec cannot work here at all (no
 * pods/exec permission, no `cat` in the image): then status.podIP is awaited.
 */
async function ipFromHostsFile(
  handle: KubeHandle,
  pod: string,
  container: string,
  timeoutMs: number,
): Promise<string | undefined | null> {
  try {
    const r = await execInPod(handle, {
      pod,
      container,
      command: ['cat', '/etc/hosts'],
      timeoutMs,
    });
    if (r.exitCode !== 0) return null;
    return podIPFromHosts(r.stdout, pod) ?? null;
  } catch (err) {
    debug('%s: /etc/hosts not readable yet: %s', pod, (err as Error).message);
    if (isKubecacheError(err, 'FORBIDDEN')) return null;
    return undefined;
  }
}

function progressLine(
  label: string,
  pod: string,
  t: StageTimings,
  mode: string,
  host: string,
  port: number,
): string {
  const stage = (n: string, v: number | undefined): string =>
    `${n} ${v === undefined ? '-' : `${v}ms`}`;
  return `[kubecache] ${label} ${pod}: ${stage('created', t.created)}, ${stage('scheduled', t.scheduled)}, ${stage('running', t.running)}, ${stage('ready', t.ready)} (${mode} ${host}:${port})`;
}
