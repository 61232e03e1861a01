import createDebug from 'debug';
import { pollUntil, retryUntil } from '../deadline.js';
import { isKubecacheError, KubecacheError } from '../errors.js';
import { ANNOTATION_LEASE, LABEL_RUN } from '../names.js';
import { type ApiContext, type ApiPolicy, apiCall } from './api-call.js';
import type { KubeHandle } from './client.js';
import {
  type ConfigurationOptions,
  type CoreV1Event,
  type ObservableMiddleware,
  PatchStrategy,
  setHeaderOptions,
  type V1LimitRange,
  type V1ObjectMeta,
  type V1Pod,
  type V1Secret,
} from './client-node.js';

const debug = createDebug('kubecache:pods');

const ctx = (handle: KubeHandle): ApiContext => handle;

/** What apiCall sends: one attempt of a request, with the options it passes in. */
type Send<T> = (options: ConfigurationOptions<ObservableMiddleware>) => Promise<T>;

/**
 * Grace period of every delete. Not 0: a zero grace is a force delete, which
 * removes the object from the API before the kubelet has stopped the
 * container, so the namespace's quota would stop counting a pod that still
 * runs and a node could be overcommitted. Caches hold nothing worth saving
 * and redis and memcached exit on SIGTERM at once, so one second (the pod
 * spec's terminationGracePeriodSeconds too) bounds the stop of one that
 * does not (a shell wrapper as PID 1); quota stops counting a deleted pod
 * when it has stopped, or at the latest two grace periods after the delete.
 */
export const DELETE_GRACE_SECONDS = 1;

/** Creates a pod; a retried create is idempotent (see createOwned). */
export async function createPod(
  handle: KubeHandle,
  pod: V1Pod,
  signal?: AbortSignal,
): Promise<V1Pod> {
  return createOwned(
    handle,
    'pods',
    pod,
    (options) =>
      handle.core.createNamespacedPod({ namespace: handle.namespace, body: pod }, options),
    (name) => readPod(handle, name),
    signal,
  );
}

/** The pod, or undefined when it does not exist. */
export async function readPod(handle: KubeHandle, name: string): Promise<V1Pod | undefined> {
  try {
    return await apiCall(
      ctx(handle),
      { verb: 'get', resource: 'pods', namespace: handle.namespace, name },
      (options) => handle.core.readNamespacedPod({ name, namespace: handle.namespace }, options),
      { idempotent: true },
    );
  } catch (err) {
    if (isKubecacheError(err, 'POD_GONE')) return undefined;
    throw err;
  }
}

/** Creates a Secret; a retried create is idempotent (see createOwned). */
export async function createSecret(handle: KubeHandle, secret: V1Secret): Promise<V1Secret> {
  return createOwned(
    handle,
    'secrets',
    secret,
    (options) =>
      handle.core.createNamespacedSecret({ namespace: handle.namespace, body: secret }, options),
    // Not swallowing a 404 as readPod does: a Secret gone right after its 409 is an error.
    (name) =>
      apiCall(
        ctx(handle),
        { verb: 'get', resource: 'secrets', namespace: handle.namespace, name },
        (options) =>
          handle.core.readNamespacedSecret({ name, namespace: handle.namespace }, options),
        { idempotent: true },
      ),
  );
}

/**
 * Whether the handle's namespace exists, asked with a dry-run Secret create
 * (nothing is stored): reading a Namespace needs a cluster-wide grant that
 * the Role in docs/rbac.md does not have, and a list in a missing namespace
 * answers an empty 200, so `ls` said "0 runs" there. Undefined when the
 * server does not tell, e.g. the create is forbidden.
 */
export async function namespaceExists(handle: KubeHandle): Promise<boolean | undefined> {
  const namespace = handle.namespace;
  const body: V1Secret = { metadata: { generateName: 'kc-namespace-check-' } };
  try {
    await apiCall(
      ctx(handle),
      { verb: 'create', resource: 'secrets', namespace },
      (options) => handle.core.createNamespacedSecret({ namespace, body, dryRun: 'All' }, options),
      // A dry run changes nothing, so a retry cannot create twice.
      { idempotent: true },
    );
    return true;
  } catch (err) {
    if (isKubecacheError(err, 'NAMESPACE_NOT_FOUND')) return false;
    if (isKubecacheError(err, 'UNREACHABLE')) throw err;
    debug('namespace check in %s: %s', namespace, (err as Error).message);
    return undefined;
  }
}

/**
 * The create shared by pods and secrets. The name is fixed by the caller,
 * which makes a retried create idempotent: a 409 on a retry is our own first
 * attempt, accepted when the object `readExisting` finds carries this run's
 * label.
 */
async function createOwned<T extends { metadata?: V1ObjectMeta }>(
  handle: KubeHandle,
  resource: 'pods' | 'secrets',
  body: T,
  send: Send<T>,
  readExisting: (name: string) => Promise<T | undefined>,
  signal?: AbortSignal,
): Promise<T> {
  const name = body.metadata?.name ?? '';
  const run = body.metadata?.labels?.[LABEL_RUN];
  return apiCall(
    ctx(handle),
    { verb: 'create', resource, namespace: handle.namespace, name },
    send,
    {
      idempotent: true,
      signal,
      onConflict: async () => {
        const existing = await readExisting(name);
        return existing && existing.metadata?.labels?.[LABEL_RUN] === run ? existing : undefined;
      },
    },
  );
}

/** Deletes one pod (see DELETE_GRACE_SECONDS). A missing pod is fine. */
export async function deletePod(
  handle: KubeHandle,
  name: string,
  policy?: Partial<ApiPolicy>,
): Promise<void> {
  const deleted = await deleteIfPresent(handle, 'pods', name, sendPodDelete(handle, name), policy);
  if (deleted) debug('deleted pod %s', name);
}

/**
 * Deletes a pod only if its resourceVersion is still `resourceVersion`
 * (a delete precondition), so a lease renewed after it was judged expired
 * wins. Returns whether it was deleted.
 */
export async function deletePodIfUnchanged(
  handle: KubeHandle,
  name: string,
  resourceVersion: string | undefined,
): Promise<boolean> {
  try {
    // false on a 404: gone already.
    return await deleteIfPresent(
      handle,
      'pods',
      name,
      sendPodDelete(handle, name, resourceVersion),
    );
  } catch (err) {
    // 409: changed since it was listed (renewed).
    if (isKubecacheError(err) && err.details.status === 409) return false;
    throw err;
  }
}

/** The request of both pod deletes, with a resourceVersion precondition when given. */
function sendPodDelete(handle: KubeHandle, name: string, resourceVersion?: string): Send<unknown> {
  return (options) =>
    handle.core.deleteNamespacedPod(
      {
        name,
        namespace: handle.namespace,
        gracePeriodSeconds: DELETE_GRACE_SECONDS,
        propagationPolicy: 'Background',
        ...(resourceVersion ? { body: { preconditions: { resourceVersion } } } : {}),
      },
      options,
    );
}

export async function deleteSecret(
  handle: KubeHandle,
  name: string,
  policy?: Partial<ApiPolicy>,
): Promise<void> {
  await deleteIfPresent(
    handle,
    'secrets',
    name,
    (options) => handle.core.deleteNamespacedSecret({ name, namespace: handle.namespace }, options),
    policy,
  );
}

/**
 * The delete shared by pods and secrets: retried within the policy (deletes
 * are idempotent), and a missing object is fine, as teardown and the reaper
 * race each other and the garbage collector. Returns whether the object was
 * there; any other failure is thrown.
 */
async function deleteIfPresent(
  handle: KubeHandle,
  resource: 'pods' | 'secrets',
  name: string,
  send: Send<unknown>,
  policy?: Partial<ApiPolicy>,
): Promise<boolean> {
  try {
    await apiCall(
      ctx(handle),
      { verb: 'delete', resource, namespace: handle.namespace, name },
      send,
      { idempotent: true, ...(policy ? { policy } : {}) },
    );
    return true;
  } catch (err) {
    if (isKubecacheError(err, 'POD_GONE')) return false;
    throw err;
  }
}

export async function listPods(
  handle: KubeHandle,
  labelSelector: string,
  policy?: Partial<ApiPolicy>,
): Promise<V1Pod[]> {
  return (await listPodsWithVersion(handle, { labelSelector }, policy)).items;
}

/** Pods and the list's resourceVersion, from which a watch can continue. */
export async function listPodsWithVersion(
  handle: KubeHandle,
  query: { labelSelector?: string; fieldSelector?: string },
  policy?: Partial<ApiPolicy>,
): Promise<{ items: V1Pod[]; resourceVersion: string | undefined }> {
  const list = await listAll(
    handle,
    'pods',
    (options) => handle.core.listNamespacedPod({ namespace: handle.namespace, ...query }, options),
    policy,
  );
  return { items: list.items, resourceVersion: list.metadata?.resourceVersion };
}

export async function listSecrets(
  handle: KubeHandle,
  labelSelector: string,
  policy?: Partial<ApiPolicy>,
): Promise<V1Secret[]> {
  const list = await listAll(
    handle,
    'secrets',
    (options) =>
      handle.core.listNamespacedSecret({ namespace: handle.namespace, labelSelector }, options),
    policy,
  );
  return list.items;
}

/** The list shared by pods and secrets: a read, so retried within the policy. */
function listAll<T>(
  handle: KubeHandle,
  resource: 'pods' | 'secrets',
  send: Send<T>,
  policy?: Partial<ApiPolicy>,
): Promise<T> {
  return apiCall(ctx(handle), { verb: 'list', resource, namespace: handle.namespace }, send, {
    idempotent: true,
    ...(policy ? { policy } : {}),
  });
}

export interface TeardownResult {
  /** Pods whose delete did not go through before the budget ran out. */
  remaining: string[];
  /** Secrets whose delete did not go through. */
  remainingSecrets: string[];
}

/**
 * Deletes every pod and secret matching the selector, all within
 * `budgetMs`: the API server may be down for part of it, so every list and
 * delete is retried until the budget ends, not only once. List-then-delete
 * rather than deletecollection, so the minimal Role needs no extra verb.
 * `known` are names this run created, deleted even when no list succeeds.
 *
 * Done when every pod's delete was accepted (the pod is gone or has a
 * deletionTimestamp), not when the pods are gone: from there the kubelet
 * stops the containers and removes the objects whether or not this process
 * is still there, and quota soon stops counting them (DELETE_GRACE_SECONDS).
 * Waiting for "gone" held every run's exit 2–4 s for work that needs
 * nothing from the run.
 */
export async function deleteAll(
  handle: KubeHandle,
  labelSelector: string,
  budgetMs: number,
  known: { pods?: readonly string[]; secrets?: readonly string[] } = {},
): Promise<TeardownResult> {
  const deadline = Date.now() + budgetMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const policy = (): Partial<ApiPolicy> => ({ retryMs: left() });
  const pods = new Set(known.pods ?? []);
  const secrets = new Set(known.secrets ?? []);
  const deletedPods = new Set<string>();
  const deletedSecrets = new Set<string>();
  const podsLeft = (): string[] => [...pods].filter((n) => !deletedPods.has(n));
  const secretsLeft = (): string[] => [...secrets].filter((n) => !deletedSecrets.has(n));
  let listed = false;
  const done = await pollUntil(
    async (round) => {
      try {
        for (const p of await listPods(handle, labelSelector, policy())) {
          const name = p.metadata?.name ?? '';
          pods.add(name);
          // Deleted already (by an earlier round, its pod's death, another run).
          if (p.metadata?.deletionTimestamp) deletedPods.add(name);
        }
        for (const s of await listSecrets(handle, labelSelector, policy())) {
          secrets.add(s.metadata?.name ?? '');
        }
        listed = true;
      } catch (err) {
        debug('teardown list failed (round %d): %s', round, (err as Error).message);
      }
      await Promise.all([
        ...podsLeft().map((n) =>
          deletePod(handle, n, policy()).then(
            () => deletedPods.add(n),
            (err: unknown) => debug('delete of pod %s failed: %s', n, (err as Error).message),
          ),
        ),
        ...secretsLeft().map((n) =>
          deleteSecret(handle, n, policy()).then(
            () => deletedSecrets.add(n),
            (err: unknown) => debug('delete of secret %s failed: %s', n, (err as Error).message),
          ),
        ),
      ]);
      return listed && podsLeft().length === 0 && secretsLeft().length === 0 ? true : undefined;
    },
    // Waits end by the deadline: the last round runs at it, not up to a second after.
    { deadline, delayMs: (round) => Math.min(250 * round, 1000, left()) },
  );
  return done
    ? { remaining: [], remainingSecrets: [] }
    : { remaining: podsLeft(), remainingSecrets: secretsLeft() };
}

/** The namespace's LimitRanges, or none when the identity may not list them. */
export async function listLimitRanges(handle: KubeHandle): Promise<V1LimitRange[]> {
  try {
    const list = await apiCall(
      ctx(handle),
      { verb: 'list', resource: 'limitranges', namespace: handle.namespace },
      (options) => handle.core.listNamespacedLimitRange({ namespace: handle.namespace }, options),
      { idempotent: true },
    );
    return list.items;
  } catch (err) {
    // Optional: without the permission, defaults are used as they are and a
    // rejection still names the LimitRange (LIMIT_RANGE).
    debug('cannot list LimitRanges: %s', (err as Error).message);
    return [];
  }
}

/** Sets a pod's lease annotation; retried, as a merge patch can be sent twice. */
export async function renewLease(handle: KubeHandle, name: string, expiresAt: Date): Promise<void> {
  await apiCall(
    ctx(handle),
    { verb: 'patch', resource: 'pods', namespace: handle.namespace, name },
    (options) =>
      handle.core.patchNamespacedPod(
        {
          name,
          namespace: handle.namespace,
          body: { metadata: { annotations: { [ANNOTATION_LEASE]: expiresAt.toISOString() } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options),
      ),
    // A renewal that takes longer than a renew interval is overtaken by the next.
    { idempotent: true },
  );
}

/** Events and last log lines of a pod, for error messages; never throws. */
export async function describePod(
  handle: KubeHandle,
  name: string,
  container: string,
  opts: { running?: boolean } = {},
): Promise<{ events: string[]; logs: string }> {
  let events: string[] = [];
  let logs = '';
  try {
    const list = await apiCall(
      ctx(handle),
      { verb: 'list', resource: 'events', namespace: handle.namespace },
      (options) =>
        handle.core.listNamespacedEvent(
          { namespace: handle.namespace, fieldSelector: `involvedObject.name=${name}` },
          options,
        ),
      { idempotent: true, policy: { retryMs: handle.policy.callMs } },
    );
    events = eventsInOrder(list.items).map((e: CoreV1Event) =>
      `${e.type ?? ''} ${e.reason ?? ''}: ${e.message ?? ''}`.trim(),
    );
  } catch (err) {
    events = [`(events unavailable: ${(err as Error).message})`];
  }
  // For a pod known to run, the log API can still answer "waiting to start"
  // for a moment: the kubelet's status lags the container (see start-cache-pod).
  logs = await retryUntil(() => readLog(handle, name, container, 20), {
    attempts: opts.running ? 8 : 1,
    delayMs: () => 250,
  }).catch(() => '(no logs: the container has not started)');
  return { events, logs };
}

/** The last `lines` log lines of a container (of its previous run with `previous`). */
export function readLog(
  handle: KubeHandle,
  name: string,
  container: string,
  lines: number,
  previous = false,
): Promise<string> {
  return apiCall(
    ctx(handle),
    { verb: 'get', resource: 'pods', subresource: 'log', namespace: handle.namespace, name },
    (options) =>
      handle.core.readNamespacedPodLog(
        { name, namespace: handle.namespace, container, tailLines: lines, previous },
        options,
      ),
    // One short attempt: callers (error messages) retry on their own terms.
    { idempotent: false },
  );
}

/**
 * A pod's events, last occurrence last. The kubelet's timestamps have whole
 * seconds and the scheduler's eventTime has microseconds, so times compare
 * by the second; within one, the API's order (by name, which ends in the
 * creation time) stands. Compared exactly, "Scheduled" came after the pulls
 * and failures of the same second.
 */
export function eventsInOrder(items: CoreV1Event[]): CoreV1Event[] {
  return [...items].sort((a, b) => eventSecond(a) - eventSecond(b));
}

function eventSecond(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t ? Math.floor(new Date(t as unknown as string).getTime() / 1000) : 0;
}

export function assertPodIP(pod: V1Pod): string {
  const ip = pod.status?.podIP;
  if (!ip) {
    throw new KubecacheError('INTERNAL', `pod ${pod.metadata?.name} has no IP yet`, {});
  }
  return ip;
}

/** Makes a Secret belong to a pod, so the garbage collector deletes it with the pod. */
export async function patchSecretOwner(
  handle: KubeHandle,
  name: string,
  owner: { apiVersion: string; kind: string; name: string; uid: string },
): Promise<void> {
  await apiCall(
    ctx(handle),
    { verb: 'patch', resource: 'secrets', namespace: handle.namespace, name },
    (options) =>
      handle.core.patchNamespacedSecret(
        {
          name,
          namespace: handle.namespace,
          body: {
            metadata: {
              ownerReferences: [{ ...owner, controller: false, blockOwnerDeletion: false }],
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options),
      ),
    { idempotent: true },
  );
}
