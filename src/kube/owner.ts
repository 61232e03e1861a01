import { hostname } from 'node:os';
import createDebug from 'debug';
import { readPodName } from '../config/env.js';
import type { KubeHandle } from './client.js';
import type { PodOwner } from './pod-spec.js';
import { readPod } from './pods.js';

const debug = createDebug('kubecache:owner');

/**
 * When the runner itself is a pod in the caches' namespace, returns it as an
 * owner so Kubernetes garbage-collects the caches with the CI job even if
 * kubecache never gets to tear down. The pod name comes from
 * KUBECACHE_POD_NAME / POD_NAME (downward API) or the hostname, which is the
 * pod name by default. Anything unexpected just means no owner.
 */
export async function findRunnerPod(
  handle: KubeHandle,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PodOwner | undefined> {
  const named = readPodName(env);
  if (!handle.inCluster && !named.explicit) return undefined;
  const name = named.name ?? hostname();
  try {
    const pod = await readPod(handle, name);
    const uid = pod?.metadata?.uid;
    if (!uid) return undefined;
    debug('runner pod %s/%s owns the caches', handle.namespace, name);
    return { apiVersion: 'v1', kind: 'Pod', name, uid, labels: { ...pod.metadata?.labels } };
  } catch (err) {
    debug('runner pod %s not found in %s: %s', name, handle.namespace, (err as Error).message);
    return undefined;
  }
}
