import type { V1ObjectMeta } from '@kubernetes/client-node';
import createDebug from 'debug';
import { ANNOTATION_LEASE, LABEL_RUN, managedSelector } from '../names.js';
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
  const report: ReapReport = { pods: [], secrets: [] };
  const stale = (meta: V1ObjectMeta | undefined): boolean =>
    meta?.labels?.[LABEL_RUN] !== opts.ownRunId && leaseExpired(meta, now, opts.graceMs);
  for (const pod of await listPods(handle, selector)) {
    if (!stale(pod.metadata) || pod.metadata?.deletionTimestamp) continue;
    const name = pod.metadata?.name ?? '';
    await deletePod(handle, name);
    report.pods.push(name);
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

/** What `kubecache reap` deletes: expired leases (the default), one run, or everything. */
export type ReapScope = { kind: 'expired' } | { kind: 'run'; runId: string } | { kind: 'all' };

/**
 * Pure: the pods and secrets a scope selects. `expired` uses the same
 * judgement as the runners' start-up sweep, so the CLI never deletes what a
 * run would consider live; `run` and `all` are explicit requests and ignore
 * leases. Objects already being deleted are left out.
 */
export function selectForReap<T extends { metadata?: V1ObjectMeta }>(
  objects: readonly T[],
  scope: ReapScope,
  opts: { now: Date; graceMs: number },
): T[] {
  return objects.filter((o) => {
    if (o.metadata?.deletionTimestamp) return false;
    if (scope.kind === 'all') return true;
    if (scope.kind === 'run') return o.metadata?.labels?.[LABEL_RUN] === scope.runId;
    return leaseExpired(o.metadata, opts.now, opts.graceMs);
  });
}

/** Deletes what `scope` selects among the kubecache pods and secrets of the namespace. */
export async function reap(
  handle: KubeHandle,
  scope: ReapScope,
  opts: { now?: Date; graceMs: number; dryRun?: boolean },
): Promise<ReapReport> {
  const now = opts.now ?? new Date();
  const selector = managedSelector();
  const pods = selectForReap(await listPods(handle, selector), scope, { ...opts, now });
  const secrets = selectForReap(await listSecrets(handle, selector), scope, { ...opts, now });
  const report: ReapReport = {
    pods: pods.map((p) => p.metadata?.name ?? ''),
    secrets: secrets.map((s) => s.metadata?.name ?? ''),
  };
  if (opts.dryRun) return report;
  await Promise.all([
    ...report.pods.map((name) => deletePod(handle, name)),
    ...report.secrets.map((name) => deleteSecret(handle, name)),
  ]);
  debug('reaped (%s) %o', scope.kind, report);
  return report;
}
