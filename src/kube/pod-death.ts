import type { V1Pod } from './client-node.js';

/** Why a cache pod that was serving can serve no more. */
export interface PodDeath {
  reason: 'OOMKilled' | 'Evicted' | 'DeadlineExceeded' | 'Exited' | 'Deleted';
  /** One sentence for the test that was using the cache, with the fix where there is one. */
  message: string;
  /** The container's exit, when it exited: its last log lines are worth reading. */
  exited: boolean;
}

/**
 * Pure: whether a pod that was ready has died in place. Pods run with
 * restartPolicy Never, so a terminated cache container never comes back:
 * an OOM kill, the server exiting, eviction and an activeDeadlineSeconds
 * expiry all leave the pod object behind, and only a deletion would have
 * ended it otherwise. `container` is the cache container's name.
 */
export function podDeath(pod: V1Pod, container: string): PodDeath | null {
  const name = pod.metadata?.name ?? '?';
  const status = pod.status;
  if (status?.reason === 'Evicted') {
    return {
      reason: 'Evicted',
      message: `pod ${name} was evicted by the kubelet: ${status.message ?? 'no message'}. Nodes evict pods under memory or disk pressure; lower the node's load or give the cache smaller requests/limits (resources).`,
      exited: false,
    };
  }
  if (status?.reason === 'DeadlineExceeded') {
    return {
      reason: 'DeadlineExceeded',
      message: `pod ${name} reached its activeDeadlineSeconds (${pod.spec?.activeDeadlineSeconds ?? '?'} s) and was stopped by the kubelet. Raise activeDeadlineSeconds (KUBECACHE_ACTIVE_DEADLINE_SECONDS) if the run lasts longer.`,
      exited: false,
    };
  }
  const cs = status?.containerStatuses?.find((c) => c.name === container);
  const term = cs?.state?.terminated ?? (cs?.restartCount ? cs.lastState?.terminated : undefined);
  if (term) {
    if (term.reason === 'OOMKilled') {
      const limit = pod.spec?.containers?.find((c) => c.name === container)?.resources?.limits
        ?.memory;
      return {
        reason: 'OOMKilled',
        message: `the cache container of pod ${name} was OOMKilled: it used more than its memory limit ${limit ?? '(none set)'}. Raise resources.limits.memory (e.g. useCache(..., { resources: { limits: { memory: '512Mi' } } }) or KUBECACHE_MEMORY_LIMIT), or store less data.`,
        exited: true,
      };
    }
    return {
      reason: 'Exited',
      message: `the cache server of pod ${name} exited with code ${term.exitCode}${term.signal ? ` (signal ${term.signal})` : ''}${term.reason ? ` (${term.reason})` : ''} after it was ready (SHUTDOWN, a crash, or killed from inside).`,
      exited: true,
    };
  }
  if (status?.phase === 'Failed' || status?.phase === 'Succeeded') {
    return {
      reason: 'Exited',
      message: `pod ${name} ended in phase ${status.phase}${status.reason ? ` (${status.reason}: ${status.message ?? ''})` : ''}.`,
      exited: false,
    };
  }
  if (pod.metadata?.deletionTimestamp) {
    return {
      reason: 'Deleted',
      message: `pod ${name} was deleted from outside this run (kubectl delete, a namespace cleanup, or the node going away).`,
      exited: false,
    };
  }
  return null;
}
