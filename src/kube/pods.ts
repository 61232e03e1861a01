import {
  type CoreV1Event,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import createDebug from 'debug';
import { KubecacheError } from '../errors.js';
import { ANNOTATION_LEASE } from '../names.js';
import { isNotFound, toKubecacheError } from './api-error.js';
import type { KubeHandle } from './client.js';

const debug = createDebug('kubecache:pods');

export async function createPod(handle: KubeHandle, pod: V1Pod): Promise<V1Pod> {
  try {
    return await handle.core.createNamespacedPod({ namespace: handle.namespace, body: pod });
  } catch (err) {
    throw toKubecacheError(err, { verb: 'create', resource: 'pods', namespace: handle.namespace });
  }
}

export async function createSecret(handle: KubeHandle, secret: V1Secret): Promise<V1Secret> {
  try {
    return await handle.core.createNamespacedSecret({ namespace: handle.namespace, body: secret });
  } catch (err) {
    throw toKubecacheError(err, {
      verb: 'create',
      resource: 'secrets',
      namespace: handle.namespace,
    });
  }
}

/** Deletes one pod now (caches are throwaway: no grace period). A missing pod is fine. */
export async function deletePod(handle: KubeHandle, name: string): Promise<void> {
  try {
    await handle.core.deleteNamespacedPod({
      name,
      namespace: handle.namespace,
      gracePeriodSeconds: 0,
      propagationPolicy: 'Background',
    });
    debug('deleted pod %s', name);
  } catch (err) {
    if (isNotFound(err)) return;
    throw toKubecacheError(err, {
      verb: 'delete',
      resource: 'pods',
      namespace: handle.namespace,
      name,
    });
  }
}

export async function deleteSecret(handle: KubeHandle, name: string): Promise<void> {
  try {
    await handle.core.deleteNamespacedSecret({ name, namespace: handle.namespace });
  } catch (err) {
    if (isNotFound(err)) return;
    throw toKubecacheError(err, {
      verb: 'delete',
      resource: 'secrets',
      namespace: handle.namespace,
      name,
    });
  }
}

export async function listPods(handle: KubeHandle, labelSelector: string): Promise<V1Pod[]> {
  try {
    const list = await handle.core.listNamespacedPod({
      namespace: handle.namespace,
      labelSelector,
    });
    return list.items;
  } catch (err) {
    throw toKubecacheError(err, { verb: 'list', resource: 'pods', namespace: handle.namespace });
  }
}

export async function listSecrets(handle: KubeHandle, labelSelector: string): Promise<V1Secret[]> {
  try {
    const list = await handle.core.listNamespacedSecret({
      namespace: handle.namespace,
      labelSelector,
    });
    return list.items;
  } catch (err) {
    throw toKubecacheError(err, { verb: 'list', resource: 'secrets', namespace: handle.namespace });
  }
}

/**
 * Deletes every pod and secret matching the selector and waits, with a bound,
 * until the pods are gone. List-then-delete rather than deletecollection, so
 * the minimal Role needs no extra verb.
 */
export async function deleteAllAndWait(
  handle: KubeHandle,
  labelSelector: string,
  timeoutMs: number,
): Promise<{ remaining: string[] }> {
  const names = (await listPods(handle, labelSelector)).map((p) => p.metadata?.name ?? '');
  const secrets = (await listSecrets(handle, labelSelector)).map((s) => s.metadata?.name ?? '');
  await Promise.all([
    ...names.map((n) => deletePod(handle, n)),
    ...secrets.map((n) => deleteSecret(handle, n)),
  ]);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = (await listPods(handle, labelSelector)).map((p) => p.metadata?.name ?? '?');
    if (left.length === 0) return { remaining: [] };
    if (Date.now() > deadline) return { remaining: left };
    await new Promise((r) => setTimeout(r, 150));
  }
}

export async function renewLease(handle: KubeHandle, name: string, expiresAt: Date): Promise<void> {
  try {
    await handle.core.patchNamespacedPod(
      {
        name,
        namespace: handle.namespace,
        body: { metadata: { annotations: { [ANNOTATION_LEASE]: expiresAt.toISOString() } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (err) {
    throw toKubecacheError(err, {
      verb: 'patch',
      resource: 'pods',
      namespace: handle.namespace,
      name,
    });
  }
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
    const list = await handle.core.listNamespacedEvent({
      namespace: handle.namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    events = list.items
      .sort((a: CoreV1Event, b: CoreV1Event) => eventTime(a) - eventTime(b))
      .map((e: CoreV1Event) => `${e.type ?? ''} ${e.reason ?? ''}: ${e.message ?? ''}`.trim());
  } catch (err) {
    events = [`(events unavailable: ${(err as Error).message})`];
  }
  // For a pod known to run, the log API can still answer "waiting to start"
  // for a moment: the kubelet's status lags the container (see start-cache-pod).
  for (let attempt = 1; ; attempt++) {
    try {
      logs = await handle.core.readNamespacedPodLog({
        name,
        namespace: handle.namespace,
        container,
        tailLines: 20,
      });
      break;
    } catch {
      if (!opts.running || attempt >= 8) {
        logs = '(no logs: the container has not started)';
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { events, logs };
}

function eventTime(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t ? new Date(t as unknown as string).getTime() : 0;
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
  try {
    await handle.core.patchNamespacedSecret(
      {
        name,
        namespace: handle.namespace,
        body: {
          metadata: {
            ownerReferences: [{ ...owner, controller: false, blockOwnerDeletion: false }],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (err) {
    throw toKubecacheError(err, {
      verb: 'patch',
      resource: 'secrets',
      namespace: handle.namespace,
      name,
    });
  }
}
