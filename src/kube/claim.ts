import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import createDebug from 'debug';
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
import { isConflict, isNotFound, toKubecacheError } from './api-error.js';
import type { KubeHandle } from './client.js';

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
  try {
    const list = await handle.core.listNamespacedPod({
      namespace: handle.namespace,
      labelSelector: idleSelector(reuseKey),
    });
    return list.items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .sort((a, b) =>
        String(a.metadata?.creationTimestamp ?? '').localeCompare(
          String(b.metadata?.creationTimestamp ?? ''),
        ),
      );
  } catch (err) {
    throw toKubecacheError(err, { verb: 'list', resource: 'pods', namespace: handle.namespace });
  }
}

async function patchPod(handle: KubeHandle, name: string, body: object): Promise<V1Pod> {
  return handle.core.patchNamespacedPod(
    { name, namespace: handle.namespace, body },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/**
 * Takes an idle pod for `runId`, conditional on the resourceVersion of the
 * listed pod. Undefined when another run was faster (409) or the pod is gone.
 */
export async function claimPod(
  handle: KubeHandle,
  pod: V1Pod,
  claim: { runId: string; worker: string; leaseExpiresAt: Date },
): Promise<V1Pod | undefined> {
  const name = pod.metadata?.name ?? '';
  try {
    return await patchPod(handle, name, {
      metadata: {
        resourceVersion: pod.metadata?.resourceVersion,
        labels: {
          [LABEL_RUN]: sanitizeLabelValue(claim.runId),
          [LABEL_WORKER]: sanitizeLabelValue(claim.worker),
        },
        annotations: { [ANNOTATION_LEASE]: claim.leaseExpiresAt.toISOString() },
      },
    });
  } catch (err) {
    if (isConflict(err) || isNotFound(err)) {
      debug('claim of %s lost: %s', name, isConflict(err) ? 'conflict' : 'gone');
      return undefined;
    }
    throw toKubecacheError(err, {
      verb: 'patch',
      resource: 'pods',
      namespace: handle.namespace,
      name,
    });
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
  try {
    await patchPod(handle, name, {
      metadata: {
        labels: { [LABEL_RUN]: IDLE_RUN, [LABEL_REUSE]: park.reuseKey },
        // The pod outlives the run on purpose (a CI runner pod that owned it
        // would take it along); the idle lease and the deadline bound it.
        ownerReferences: null,
        annotations: { [ANNOTATION_LEASE]: park.idleUntil.toISOString() },
      },
    });
  } catch (err) {
    throw toKubecacheError(err, {
      verb: 'patch',
      resource: 'pods',
      namespace: handle.namespace,
      name,
    });
  }
}
