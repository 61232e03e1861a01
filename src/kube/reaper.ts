import type { V1ObjectMeta } from '@kubernetes/client-node';
import createDebug from 'debug';
import { ANNOTATION_LEASE, IDLE_RUN, LABEL_RUN, managedSelector } from '../names.js';
import type { KubeHandle } from './client.js';
import { deletePod, deleteSecret, listPods, listSecrets } from './pods.js';

const debug = createDebug('kubecache:reaper');

/**
 * A lease is expired when its annotation is a time in the past. An object
 * without a readable lease is only reaped once it is older than `graceMs`,
 * so a pod being created right now by another run is never touched.
 */
export function leaseExpired(meta: V1ObjectMeta | undefined, now: Date, graceMs: number): boolean {
  const lease = meta?.annotations?.[ANNOTATION_LEASE];
  const at = lease ? Date.parse(lease) : Number.NaN;
  if (!Number.isNaN(at)) return at < now.getTime();
  const created = meta?.creationTimestamp
    ? new Date(meta.creationTimestamp).getTime()
    : now.getTime();
  return now.getTime() - created > graceMs;
}

export interface ReapReport {
  pods: string[];
  secrets: string[];
  /** The subset of `pods` that were kept for reuse and stayed idle past their idle time. */
  idle: string[];
}

/**
 * Deletes kubecache pods and secrets in the namespace whose lease expired:
 * leftovers of runs that died without teardown (SIGKILL, OOM, a CI job
 * cancelled). Live runs renew their leases, so their pods are left alone;
 * `ownRunId` is skipped outright.
 */
export async function reapExpired(
  handle: KubeHandle,
  opts: { now?: Date; graceMs: number; ownRunId?: string },
): Promise<ReapReport> {
  const now = opts.now ?? new Date();
  const selector = managedSelector();
  const report: ReapReport = { pods: [], secrets: [], idle: [] };
  const stale = (meta: V1ObjectMeta | undefined): boolean =>
    meta?.labels?.[LABEL_RUN] !== opts.ownRunId && leaseExpired(meta, now, opts.graceMs);
  for (const pod of await listPods(handle, selector)) {
    if (!stale(pod.metadata) || pod.metadata?.deletionTimestamp) continue;
    const name = pod.metadata?.name ?? '';
    await deletePod(handle, name);
    report.pods.push(name);
    // A kept pod's lease is its idle time (kube/claim.ts parkPod), so the
    // same expiry rule reaps pods no later run came back for.
    if (pod.metadata?.labels?.[LABEL_RUN] === IDLE_RUN) report.idle.push(name);
  }
  for (const secret of await listSecrets(handle, selector)) {
    if (!stale(secret.metadata)) continue;
    const name = secret.metadata?.name ?? '';
    await deleteSecret(handle, name);
    report.secrets.push(name);
  }
  if (report.pods.length + report.secrets.length > 0) debug('reaped %o', report);
  return report;
}
