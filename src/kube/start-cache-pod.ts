import type { V1Pod } from '@kubernetes/client-node';
import createDebug from 'debug';
import type { EndpointMode, Timeouts } from '../config/options.js';
import type { EngineDefinition } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import type { KubeHandle } from './client.js';
import { podFailure, podProgress } from './pod-status.js';
import { watchPod } from './pod-watch.js';
import { createPod, deletePod, describePod } from './pods.js';
import { type PortForwardEndpoint, startPortForward } from './port-forward.js';
import type { PodNetworkReachability } from './reachability.js';

const debug = createDebug('kubecache:start');

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
  /** Called right after the API accepted the pod, e.g. to create a Secret owned by it. */
  afterCreate?: (pod: V1Pod) => Promise<void>;
  signal?: AbortSignal;
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
  const { handle, engine, timeouts } = input;
  const t0 = Date.now();
  const created = await createPod(handle, input.pod);
  const name = created.metadata?.name ?? '';
  const uid = created.metadata?.uid ?? '';
  const timings: Partial<StageTimings> = { created: Date.now() - t0 };
  debug('%s: created %s in %d ms', input.label, name, timings.created);

  let latest: V1Pod = created;
  let failed: KubecacheError | undefined;
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of waiters) w();
  };
  const stopWatch = watchPod(handle, name, {
    resourceVersion: created.metadata?.resourceVersion,
    onEvent: (type, pod) => {
      latest = pod;
      const since = Date.now() - t0;
      const p = podProgress(pod);
      if (p.scheduled && timings.scheduled === undefined) timings.scheduled = since;
      if (p.podIP && timings.ip === undefined) timings.ip = since;
      if (p.running && timings.running === undefined) timings.running = since;
      if (type === 'DELETED') {
        failed ??= new KubecacheError(
          'POD_GONE',
          `pod ${name} was deleted while it was starting.`,
          {
            pod: name,
          },
        );
      } else {
        const f = podFailure(pod);
        if (f)
          failed ??= new KubecacheError(f.code, `pod ${name}: ${f.message}`, {
            pod: name,
            reason: f.reason,
          });
      }
      notify();
    },
    onError: (err) => {
      failed ??= new KubecacheError(
        'UNREACHABLE',
        `lost the watch on pod ${name}: ${(err as Error).message}`,
        {
          pod: name,
        },
      );
      notify();
    },
  });

  const onAbort = (): void => {
    failed ??= new KubecacheError('INTERNAL', `start of pod ${name} was cancelled (teardown).`, {
      pod: name,
    });
    notify();
  };
  input.signal?.addEventListener('abort', onAbort, { once: true });

  /** Resolves when `ready(latest)` holds; rejects on pod failure or after `ms`. */
  const waitFor = (what: string, ms: number, ready: (pod: V1Pod) => boolean): Promise<V1Pod> =>
    new Promise<V1Pod>((resolve, reject) => {
      const check = (): void => {
        if (failed) finish(failed);
        else if (ready(latest)) finish(null);
      };
      const finish = (err: Error | null): void => {
        waiters.delete(check);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(latest);
      };
      const timer = setTimeout(
        () =>
          finish(
            new KubecacheError(
              'TIMEOUT',
              `pod ${name} did not reach "${what}" within ${ms} ms (phase ${latest.status?.phase ?? 'unknown'}). Raise the timeout if the cluster is slow.`,
              { pod: name, stage: what, timeoutMs: ms },
            ),
          ),
        ms,
      );
      waiters.add(check);
      check();
    });

  /** Tries the protocol until it answers, giving up on pod failure or deadline. */
  const probeUntilReady = async (host: string, port: number): Promise<void> => {
    const deadline = Date.now() + timeouts.probeMs;
    let last: unknown;
    for (let attempt = 1; ; attempt++) {
      if (failed) throw failed;
      try {
        await engine.probe(host, port, timeouts.probeAttemptMs);
        debug(
          '%s: %s answered on %s:%d after %d attempts',
          input.label,
          engine.name,
          host,
          port,
          attempt,
        );
        return;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) {
        throw new KubecacheError(
          'TIMEOUT',
          `${engine.name} in pod ${name} did not answer on ${host}:${port} within ${timeouts.probeMs} ms (last error: ${(last as Error)?.message}). Raise timeouts.probeMs if the image starts slowly.`,
          { pod: name, host, port },
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(20 * attempt, 100)));
    }
  };

  let forward: PortForwardEndpoint | undefined;
  try {
    if (input.afterCreate) await input.afterCreate(created);
    const withIP = await waitFor('has an IP', timeouts.podRunningMs, (p) =>
      Boolean(p.status?.podIP),
    );
    const podIP = withIP.status?.podIP ?? '';
    let mode: 'pod-ip' | 'port-forward';
    if (input.endpoint === 'pod-ip') mode = 'pod-ip';
    else if (input.endpoint === 'port-forward') mode = 'port-forward';
    else {
      const reachable = await input.reachability.check(
        podIP,
        engine.port,
        timeouts.reachabilityProbeMs,
      );
      mode = reachable ? 'pod-ip' : 'port-forward';
    }
    let host = podIP;
    let port = engine.port;
    if (mode === 'port-forward') {
      // The kubelet can only forward into a running sandbox with its container started.
      await waitFor('Running', timeouts.podRunningMs, (p) => podProgress(p).running);
      forward = await startPortForward(handle, name, engine.port);
      host = forward.host;
      port = forward.port;
    }
    await probeUntilReady(host, port);
    timings.ready = Date.now() - t0;
    // An engine that answers is running even if the kubelet has not said so
    // yet: its status reports lag by up to one PLEG relist (1 s).
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
    }
    await forward?.close();
    await deletePod(handle, name).catch((delErr: unknown) =>
      debug('%s: cleanup delete of %s failed: %s', input.label, name, (delErr as Error).message),
    );
    throw e;
  } finally {
    stopWatch();
    input.signal?.removeEventListener('abort', onAbort);
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
