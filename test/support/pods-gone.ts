import type { V1Pod } from '@kubernetes/client-node';
import { expect } from 'vitest';
import { adminCore } from './cluster.js';
import { eventuallyEmpty } from './eventually.js';

/** The pods of `namespace` that match `labelSelector`, terminating ones included. */
export function podsBy(namespace: string, labelSelector: string): () => Promise<V1Pod[]> {
  return async () => (await adminCore().listNamespacedPod({ namespace, labelSelector })).items;
}

const names = (pods: V1Pod[]) => pods.map((p) => p.metadata?.name ?? '');

/**
 * What kubecache leaves once a run has ended: no pod that is not being
 * deleted, at once (teardown returns when its deletes went through), and no
 * pod at all once the kubelet has stopped them, which the cluster finishes
 * after kubecache's call returns.
 */
export async function expectDeletedThenGone(list: () => Promise<V1Pod[]>): Promise<void> {
  expect(names((await list()).filter((p) => !p.metadata?.deletionTimestamp))).toEqual([]);
  expect(names(await eventuallyEmpty(list))).toEqual([]);
}
