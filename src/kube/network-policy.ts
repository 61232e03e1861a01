import { isKubecacheError } from '../errors.js';
import {
  LABEL_CONFIG_HASH,
  LABEL_ENGINE,
  LABEL_MANAGED_BY,
  LABEL_RUN,
  LABEL_WORKER,
} from '../names.js';
import { apiCall } from './api-call.js';
import type { KubeHandle } from './client.js';
import { NetworkingV1Api, type V1NetworkPolicy, type V1Pod } from './client-node.js';

export interface CachePolicyInput {
  /** The cache pod as created (name, uid and labels are used). */
  pod: V1Pod;
  port: number;
  /**
   * Labels of the runner's own pod when kubecache runs in the cluster: only
   * it is admitted. Without them (a runner outside the cluster) every pod of
   * the namespace is, since traffic from outside arrives through a node or a
   * port-forward, which NetworkPolicies do not cover.
   */
  runnerLabels?: Record<string, string>;
}

/**
 * A NetworkPolicy that admits only the runner to one cache pod. Owned by the
 * pod, so the garbage collector deletes it with the pod. Pure.
 */
export function buildCachePolicy(input: CachePolicyInput): V1NetworkPolicy {
  const meta = input.pod.metadata ?? {};
  const labels = meta.labels ?? {};
  const selector: Record<string, string> = {};
  for (const key of [LABEL_RUN, LABEL_WORKER, LABEL_ENGINE, LABEL_CONFIG_HASH]) {
    if (labels[key] !== undefined) selector[key] = labels[key];
  }
  const runner =
    input.runnerLabels && Object.keys(input.runnerLabels).length > 0
      ? { ...input.runnerLabels }
      : undefined;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: meta.name ?? '',
      labels: {
        [LABEL_MANAGED_BY]: labels[LABEL_MANAGED_BY] ?? 'kubecache',
        ...(labels[LABEL_RUN] ? { [LABEL_RUN]: labels[LABEL_RUN] } : {}),
        ...(labels[LABEL_WORKER] ? { [LABEL_WORKER]: labels[LABEL_WORKER] } : {}),
      },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          name: meta.name ?? '',
          uid: meta.uid ?? '',
          controller: false,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      podSelector: { matchLabels: selector },
      policyTypes: ['Ingress'],
      ingress: [
        {
          _from: [{ podSelector: runner ? { matchLabels: runner } : {} }],
          ports: [{ protocol: 'TCP', port: input.port }],
        },
      ],
    },
  };
}

function api(handle: KubeHandle): NetworkingV1Api {
  return handle.kc.makeApiClient(NetworkingV1Api);
}

export async function createNetworkPolicy(
  handle: KubeHandle,
  policy: V1NetworkPolicy,
): Promise<V1NetworkPolicy> {
  const name = policy.metadata?.name ?? '';
  const networking = api(handle);
  return apiCall(
    handle,
    { verb: 'create', resource: 'networkpolicies', namespace: handle.namespace, name },
    (options) =>
      networking.createNamespacedNetworkPolicy(
        { namespace: handle.namespace, body: policy },
        options,
      ),
    {
      idempotent: true,
      // A retried create that met its own first attempt: the name is this run's.
      onConflict: () =>
        networking.readNamespacedNetworkPolicy({ name, namespace: handle.namespace }),
    },
  );
}

/** Deletes one policy; already gone (e.g. collected with its pod) is fine. */
export async function deleteNetworkPolicy(handle: KubeHandle, name: string): Promise<void> {
  try {
    await apiCall(
      handle,
      { verb: 'delete', resource: 'networkpolicies', namespace: handle.namespace, name },
      (options) =>
        api(handle).deleteNamespacedNetworkPolicy({ name, namespace: handle.namespace }, options),
      { idempotent: true },
    );
  } catch (err) {
    if (isKubecacheError(err) && err.details.status === 404) return;
    throw err;
  }
}
