import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import createDebug from 'debug';
import type { ResolvedCacheConfig } from '../config/options.js';
import { sleep, withTimeout } from '../deadline.js';
import type { EngineDefinition } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import { claimPod, claimSecret, listIdlePods } from '../kube/claim.js';
import type { KubeHandle } from '../kube/client.js';
import type { V1Pod } from '../kube/client-node.js';
import { deletePod, readPod } from '../kube/pods.js';
import { type PortForwardEndpoint, startPortForward } from '../kube/port-forward.js';
import type { PodNetworkReachability } from '../kube/reachability.js';
import { configHash, IDLE_RUN, LABEL_REUSE, LABEL_RUN } from '../names.js';
import type { CacheLogins, Login } from '../security/credentials.js';
import type { SeedRequest } from './types.js';

// Warm reuse across runs (`reuse: true`): at teardown a run parks its pods
// instead of deleting them (src/kube/claim.ts), and the next run with the
// same settings claims one, empties it and hands it out as a fresh pod, so
// the worker seeds it exactly as it would seed a new one.

const debug = createDebug('kubecache:reuse');

/** Bound on checking and clearing one kept pod; a pod slower than this is replaced. */
const VERIFY_MS = 3_000;

/**
 * What makes two pods interchangeable: engine, image, args, resources and
 * the rest of the pod settings (not the timeouts or the endpoint mode, which
 * only concern this process), plus the seed's content. Undefined when the
 * cache cannot be reused: an RDB seed lives in the pod's data file, which a
 * clear would lose.
 */
export async function reuseKey(
  config: ResolvedCacheConfig,
  seed: SeedRequest | undefined,
): Promise<string | undefined> {
  // TLS certificates come from a CA of the run that made the pod, which the
  // next run does not have; a NetworkPolicy admits that run's runner only.
  if (seed?.kind === 'rdb' || config.tls || config.networkPolicy) return undefined;
  const { timeouts: _t, endpoint: _e, ...pod } = config;
  return configHash({ pod, seed: await seedDigest(seed) });
}

async function seedDigest(seed: SeedRequest | undefined): Promise<string | null> {
  if (!seed) return null;
  if (seed.kind === 'function') return `function:${seed.id}`;
  const data = await readFile(seed.path);
  return `${seed.kind}:${createHash('sha256').update(data).digest('hex')}`;
}

export interface AdoptedPod {
  name: string;
  uid: string;
  podIP: string;
  endpoint: 'pod-ip' | 'port-forward';
  host: string;
  port: number;
  forward?: PortForwardEndpoint;
  ms: number;
  /** The pod's own Secret (logins, ACL) and the logins it carried. */
  authSecret?: string;
  logins?: CacheLogins;
}

export interface AdoptInput {
  handle: KubeHandle;
  engine: EngineDefinition;
  config: ResolvedCacheConfig;
  key: string;
  runId: string;
  worker: string;
  leaseMs: number;
  reachability: PodNetworkReachability;
  progress: (line: string) => void;
  /**
   * Pods this run is claiming right now (shared by its adoptions): a run
   * that starts many pods at once would otherwise send every adoption after
   * the same first candidate and turn the claims into a queue of conflicts.
   */
  claiming: Set<string>;
  /** Idle-pod lists in flight, by reuse key (shared by its adoptions, see sharedInFlight). */
  listing: Map<string, Promise<V1Pod[]>>;
}

/**
 * The promise of `make()` for `key`, shared by every caller that asks while
 * it is pending; once it settles, the next caller starts a new one.
 *
 * A prestart adopts all its kept pods at once, and each adoption used to list
 * the idle pods itself: 8 lists of the same pods, each one deserialised in the
 * runner's main process while the workers boot. One list serves them all.
 * Sharing a list is as safe as listing again: claims are conditional on each
 * pod's resourceVersion, so a pod another run took since gets a conflict and
 * the next candidate is tried.
 */
export function sharedInFlight<T>(
  pending: Map<string, Promise<T>>,
  key: string,
  make: () => Promise<T>,
): Promise<T> {
  const current = pending.get(key);
  if (current) return current;
  const started = make().finally(() => pending.delete(key));
  pending.set(key, started);
  return started;
}

/**
 * Claims a kept pod of this key, checks that its engine answers as it
 * should, and empties it. A pod that is not running, does not answer, or
 * answers wrongly is deleted and the next one tried; a pod another run
 * claimed first is skipped. Undefined when none is left.
 */
export async function adoptIdlePod(input: AdoptInput): Promise<AdoptedPod | undefined> {
  const t0 = Date.now();
  const candidates = await sharedInFlight(input.listing, input.key, () =>
    listIdlePods(input.handle, input.key),
  );
  for (const pod of candidates) {
    const name = pod.metadata?.name ?? '';
    if (input.claiming.has(name)) continue;
    input.claiming.add(name);
    try {
      const adopted = await tryPod(input, pod, name, t0);
      if (adopted) return adopted;
    } finally {
      input.claiming.delete(name);
    }
  }
  return undefined;
}

async function tryPod(
  input: AdoptInput,
  listed: V1Pod,
  name: string,
  t0: number,
): Promise<AdoptedPod | undefined> {
  const pod = await statusCaughtUp(input.handle, listed, name);
  if (!pod) return undefined;
  if (!isRunning(pod)) {
    input.progress(
      `[kubecache] kept pod ${name} is not running (${pod.status?.phase ?? 'unknown'}); deleting it`,
    );
    await deletePod(input.handle, name).catch(() => {});
    return undefined;
  }
  const claimed = await claimPod(input.handle, pod, {
    runId: input.runId,
    worker: input.worker,
    leaseExpiresAt: new Date(Date.now() + input.leaseMs),
  });
  if (!claimed) return undefined;
  const authSecret = pod.spec?.volumes?.find((v) => v.secret?.secretName?.startsWith('kc-auth-'))
    ?.secret?.secretName;
  let logins: CacheLogins | undefined;
  if (input.config.auth) {
    logins = authSecret
      ? ((await claimSecret(input.handle, authSecret, {
          runId: input.runId,
          leaseExpiresAt: new Date(Date.now() + input.leaseMs),
        })) as CacheLogins | undefined)
      : undefined;
    if (!logins?.admin?.password) {
      input.progress(
        `[kubecache] kept pod ${name} cannot be reused: the Secret with its passwords (${authSecret ?? 'none'}) is gone or unreadable; deleting it and starting a new pod`,
      );
      await deletePod(input.handle, name).catch(() => {});
      return undefined;
    }
  }
  const podIP = claimed.status?.podIP ?? '';
  let forward: PortForwardEndpoint | undefined;
  try {
    const direct =
      input.config.endpoint === 'pod-ip' ||
      (input.config.endpoint === 'auto' &&
        (await input.reachability.check(
          podIP,
          input.engine.port,
          input.config.timeouts.reachabilityProbeMs,
        )));
    if (!direct) forward = await startPortForward(input.handle, name, input.engine.port);
    const host = forward?.host ?? podIP;
    const port = forward?.port ?? input.engine.port;
    await verifyAndClear(input.engine, { host, port }, input.config.auth, logins?.admin);
    const ms = Date.now() - t0;
    debug('adopted %s for worker %s in %d ms', name, input.worker, ms);
    return {
      name,
      uid: claimed.metadata?.uid ?? '',
      podIP,
      endpoint: forward ? 'port-forward' : 'pod-ip',
      host,
      port,
      ...(forward ? { forward } : {}),
      ms,
      ...(authSecret ? { authSecret } : {}),
      ...(logins ? { logins } : {}),
    };
  } catch (err) {
    await forward?.close();
    input.progress(
      `[kubecache] kept pod ${name} did not answer correctly (${(err as Error).message.split('\n')[0]}); deleting it and starting another`,
    );
    await deletePod(input.handle, name).catch(() => {});
  }
  return undefined;
}

/**
 * The kept pod as the kubelet reports it once its status has caught up.
 * kubecache hands a pod out as soon as its engine answers, before the
 * kubelet has reported it Running (a second or more on a busy node or an
 * older containerd), so a run shorter than that parks a pod that still
 * reads Pending. Such a pod is read again for up to VERIFY_MS; a pod that is
 * being deleted or has ended is returned as listed.
 */
async function statusCaughtUp(
  handle: KubeHandle,
  listed: V1Pod,
  name: string,
): Promise<V1Pod | undefined> {
  let pod = listed;
  const deadline = Date.now() + VERIFY_MS;
  while (!isRunning(pod) && mayStillStart(pod) && Date.now() < deadline) {
    await sleep(200);
    const fresh = await readPod(handle, name).catch(() => undefined);
    // Gone, or claimed by another run meanwhile: the claim below is
    // conditional on this read, so it must still be an idle pod of the
    // same key, or another run's pod would be taken.
    if (!fresh || !sameIdlePod(fresh, listed)) return undefined;
    pod = fresh;
  }
  if (pod !== listed) debug('kept pod %s reads %s after a wait', name, pod.status?.phase);
  return pod;
}

export function sameIdlePod(fresh: V1Pod, listed: V1Pod): boolean {
  const a = fresh.metadata?.labels ?? {};
  const b = listed.metadata?.labels ?? {};
  return (
    fresh.metadata?.uid === listed.metadata?.uid &&
    a[LABEL_RUN] === IDLE_RUN &&
    a[LABEL_REUSE] === b[LABEL_REUSE]
  );
}

export function mayStillStart(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  const phase = pod.status?.phase;
  if (phase !== 'Pending' && phase !== 'Running') return false;
  return (pod.status?.containerStatuses ?? []).every((c) => !c.state?.terminated);
}

function isRunning(pod: V1Pod): boolean {
  if (pod.status?.phase !== 'Running' || !pod.status.podIP) return false;
  return (pod.status.containerStatuses ?? []).every((c) => c.state?.running && c.ready !== false);
}

/**
 * The engine must answer its protocol correctly and end up empty: the
 * worker then seeds it as a new pod, so data changed since the last run
 * never reaches a test.
 */
export async function verifyAndClear(
  engine: EngineDefinition,
  endpoint: { host: string; port: number },
  auth: boolean,
  admin: Login | undefined,
): Promise<void> {
  const work = (async () => {
    await engine.probe(endpoint.host, endpoint.port, VERIFY_MS, { auth });
    const ops = engine.clientOps;
    const client = await ops.connect(endpoint, admin ? { login: admin } : {});
    try {
      await ops.flush(client);
    } finally {
      await ops.close(client);
    }
  })();
  await withTimeout(
    work,
    VERIFY_MS,
    () => new KubecacheError('TIMEOUT', `no answer within ${VERIFY_MS} ms`),
  );
}
