import createDebug from 'debug';
import { isKubecacheError } from '../errors.js';
import {
  ANNOTATION_LEASE,
  IDLE_RUN,
  LABEL_MANAGED_BY,
  LABEL_REUSE,
  LABEL_RUN,
  LABEL_WORKER,
  MANAGED_BY_VALUE,
  sanitizeLabelValue,
  selector,
} from '../names.js';
import { type ApiCallOptions, apiCall } from './api-call.js';
import type { KubeHandle } from './client.js';
import { PatchStrategy, setHeaderOptions, type V1Pod } from './client-node.js';
import { listPods, readPod } from './pods.js';

// Handing a kept pod from one run to the next. The pod's run label is its
// lease holder: a run takes an idle pod with an update that carries the
// resourceVersion it read, so of two runs that saw the same idle pod exactly
// one update succeeds and the other gets 409 Conflict and looks further.

const debug = createDebug('kubecache:claim');

export function idleSelector(reuseKey: string): string {
  return selector({
    [LABEL_MANAGED_BY]: MANAGED_BY_VALUE,
    [LABEL_REUSE]: reuseKey,
    [LABEL_RUN]: IDLE_RUN,
  });
}

/** Kept pods of this reuse key that no run holds, oldest first. */
export async function listIdlePods(handle: KubeHandle, reuseKey: string): Promise<V1Pod[]> {
  const items = await listPods(handle, idleSelector(reuseKey));
  return items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? '').localeCompare(
        String(b.metadata?.creationTimestamp ?? ''),
      ),
    );
}

/** One merge patch of a pod through the one API call helper. */
async function patchPod(
  handle: KubeHandle,
  name: string,
  body: object,
  retry: Pick<ApiCallOptions<V1Pod>, 'idempotent' | 'onConflict'>,
): Promise<V1Pod> {
  return apiCall(
    handle,
    { verb: 'patch', resource: 'pods', namespace: handle.namespace, name },
    (options) =>
      handle.core.patchNamespacedPod(
        { name, namespace: handle.namespace, body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options),
      ),
    retry,
  );
}

export interface PodClaim {
  runId: string;
  worker: string;
  leaseExpiresAt: Date;
}

/**
 * Whether the pod carries this very claim: the run's label and the lease
 * time the claim wrote (to the millisecond, so no other claim matches).
 */
export function holdsClaim(pod: V1Pod | undefined, claim: PodClaim): boolean {
  return (
    pod !== undefined &&
    !pod.metadata?.deletionTimestamp &&
    pod.metadata?.labels?.[LABEL_RUN] === sanitizeLabelValue(claim.runId) &&
    pod.metadata?.annotations?.[ANNOTATION_LEASE] === claim.leaseExpiresAt.toISOString()
  );
}

/**
 * Takes an idle pod for `runId`, conditional on the resourceVersion of the
 * listed pod. Undefined when another run was faster (409) or the pod is gone.
 */
export async function claimPod(
  handle: KubeHandle,
  pod: V1Pod,
  claim: PodClaim,
): Promise<V1Pod | undefined> {
  const name = pod.metadata?.name ?? '';
  try {
    return await patchPod(
      handle,
      name,
      {
        metadata: {
          resourceVersion: pod.metadata?.resourceVersion,
          labels: {
            [LABEL_RUN]: sanitizeLabelValue(claim.runId),
            [LABEL_WORKER]: sanitizeLabelValue(claim.worker),
          },
          annotations: { [ANNOTATION_LEASE]: claim.leaseExpiresAt.toISOString() },
        },
      },
      {
        // Sent again when the API server went away mid-request (refused,
        // reset, no answer in time), as every other call is; sent once, a
        // claim that met an API server restart failed the worker's acquire.
        // The retry carries the same resourceVersion: if the first attempt
        // landed unanswered, the retry meets that success as a 409, which is
        // told from another run's claim by reading the pod back.
        idempotent: true,
        onConflict: async () => {
          const now = await readPod(handle, name);
          return holdsClaim(now, claim) ? now : undefined;
        },
      },
    );
  } catch (err) {
    const status = isKubecacheError(err) ? err.details.status : undefined;
    if (status === 409 || status === 404) {
      debug('claim of %s lost: %s', name, status === 409 ? 'conflict' : 'gone');
      return undefined;
    }
    throw err;
  }
}

/**
 * Gives a pod up for the next run: idle, labelled with its reuse key, and
 * with a lease that ends after the idle time, after which any run's reaper
 * (or `kubecache reap`) deletes it. activeDeadlineSeconds still bounds it.
 */
export async function parkPod(
  handle: KubeHandle,
  name: string,
  park: { reuseKey: string; idleUntil: Date },
): Promise<void> {
  // No precondition: sending it again after a lost answer changes nothing.
  await patchPod(
    handle,
    name,
    {
      metadata: {
        labels: { [LABEL_RUN]: IDLE_RUN, [LABEL_REUSE]: park.reuseKey },
        // The pod outlives the run on purpose (a CI runner pod that owned it
        // would take it along); the idle lease and the deadline bound it.
        ownerReferences: null,
        annotations: { [ANNOTATION_LEASE]: park.idleUntil.toISOString() },
      },
    },
    { idempotent: true },
  );
}

/** The key under which a kept pod's Secret carries its logins for the next run. */
export const REUSE_LOGINS_KEY = 'kubecache-reuse-logins.json';

/** One merge patch of a Secret through the one API call helper (idempotent: no precondition). */
async function patchSecret(handle: KubeHandle, name: string, body: object): Promise<void> {
  await apiCall(
    handle,
    { verb: 'patch', resource: 'secrets', namespace: handle.namespace, name },
    (options) =>
      handle.core.patchNamespacedSecret(
        { name, namespace: handle.namespace, body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options),
      ),
    { idempotent: true },
  );
}

/**
 * Keeps a pod's own Secret (logins, ACL) with it: out of the run's label so
 * teardown leaves it, with the logins the next run needs to talk to the pod
 * (the ACL file holds only password hashes). The Secret is owned by the pod,
 * so it goes when the pod goes.
 */
export async function parkSecret(
  handle: KubeHandle,
  name: string,
  park: { reuseKey: string; idleUntil: Date; logins: unknown },
): Promise<void> {
  await patchSecret(handle, name, {
    metadata: {
      labels: { [LABEL_RUN]: IDLE_RUN, [LABEL_REUSE]: park.reuseKey },
      annotations: { [ANNOTATION_LEASE]: park.idleUntil.toISOString() },
    },
    stringData: { [REUSE_LOGINS_KEY]: JSON.stringify(park.logins) },
  });
}

/**
 * The logins a kept pod's Secret carries, and takes the Secret into the
 * claiming run (so its teardown or reaper handles it like the run's own).
 * Undefined when the Secret or the logins are missing.
 */
export async function claimSecret(
  handle: KubeHandle,
  name: string,
  claim: { runId: string; leaseExpiresAt: Date },
): Promise<unknown> {
  try {
    const list = await apiCall(
      handle,
      { verb: 'list', resource: 'secrets', namespace: handle.namespace },
      (options) =>
        handle.core.listNamespacedSecret(
          { namespace: handle.namespace, fieldSelector: `metadata.name=${name}` },
          options,
        ),
      { idempotent: true },
    );
    const raw = list.items[0]?.data?.[REUSE_LOGINS_KEY];
    if (!raw) return undefined;
    await patchSecret(handle, name, {
      metadata: {
        labels: { [LABEL_RUN]: sanitizeLabelValue(claim.runId) },
        annotations: { [ANNOTATION_LEASE]: claim.leaseExpiresAt.toISOString() },
      },
    });
    return JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch (err) {
    debug('kept secret %s unreadable: %s', name, (err as Error).message);
    return undefined;
  }
}
