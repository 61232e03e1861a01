import type { V1ObjectMeta } from '@kubernetes/client-node';
import createDebug from 'debug';
import { ANNOTATION_LEASE, LABEL_RUN, managedSelector } from '../names.js';
import type { KubeHandle } from './client.js';
import { deletePod, deletePodIfUnchanged, deleteSecret, listPods, listSecrets } from './pods.js';

const debug = createDebug('kubecache:reaper');

/**
 * Slack for the estimate of the API server's clock (its Date header has
 * whole seconds, and the estimate carries half a round trip): a lease is
 * only judged over once it ended this long ago.
 */
export const CLOCK_MARGIN_MS = 2_000;

/**
 * A lease is expired when its annotation is a time in the past, both in the
 * API server's clock: runs write leases as server time plus the lease length
 * and judge them by their estimate of server time, so two runners whose own
 * clocks disagree cannot cut each other's leases short. An object without a
 * readable lease is only reaped once it is older than `graceMs` by its
 * server-set creationTimestamp, so a pod being created right now by another
 * run is never touched.
 */
export function leaseExpired(
  meta: V1ObjectMeta | undefined,
  serverNow: Date,
  graceMs: number,
): boolean {
  const now = serverNow.getTime() - CLOCK_MARGIN_MS;
  const lease = meta?.annotations?.[ANNOTATION_LEASE];
  const at = lease ? Date.parse(lease) : Number.NaN;
  if (!Number.isNaN(at)) return at < now;
  const created = meta?.creationTimestamp ? new Date(meta.creationTimestamp).getTime() : now;
  return now - created > graceMs;
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
  const now = opts.now ?? new Date(handle.clock.now());
  const selector = managedSelector();
  const report: ReapReport = { pods: [], secrets: [] };
  const stale = (meta: V1ObjectMeta | undefined): boolean =>
    meta?.labels?.[LABEL_RUN] !== opts.ownRunId && leaseExpired(meta, now, opts.graceMs);
  for (const pod of await listPods(handle, selector)) {
    if (!stale(pod.metadata) || pod.metadata?.deletionTimestamp) continue;
    const name = pod.metadata?.name ?? '';
    // Deleted only if unchanged since the list: a renewal in between (a live
    // run that was merely slow) bumps the resourceVersion and saves the pod.
    if (await deletePodIfUnchanged(handle, name, pod.metadata?.resourceVersion)) {
      report.pods.push(name);
    }
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

/**
 * Deletes what `scope` selects among the kubecache pods and secrets of the
 * namespace. Leases are judged in the API server's clock, like the runners'
 * sweep; an expired pod is deleted only if unchanged since it was listed, so
 * a run that renews its lease at that moment keeps its pod.
 */
export async function reap(
  handle: KubeHandle,
  scope: ReapScope,
  opts: { now?: Date; graceMs: number; dryRun?: boolean },
): Promise<ReapReport> {
  const now = opts.now ?? new Date(handle.clock.now());
  const selector = managedSelector();
  const pods = selectForReap(await listPods(handle, selector), scope, { ...opts, now });
  const secrets = selectForReap(await listSecrets(handle, selector), scope, { ...opts, now });
  const names = (list: { metadata?: V1ObjectMeta }[]) => list.map((o) => o.metadata?.name ?? '');
  if (opts.dryRun) return { pods: names(pods), secrets: names(secrets) };
  const deleted = await Promise.all(
    pods.map(async (pod) => {
      const name = pod.metadata?.name ?? '';
      if (scope.kind !== 'expired') {
        await deletePod(handle, name);
        return name;
      }
      return (await deletePodIfUnchanged(handle, name, pod.metadata?.resourceVersion))
        ? name
        : undefined;
    }),
  );
  await Promise.all(names(secrets).map((name) => deleteSecret(handle, name)));
  const report: ReapReport = {
    pods: deleted.filter((n): n is string => n !== undefined),
    secrets: names(secrets),
  };
  debug('reaped (%s) %o', scope.kind, report);
  return report;
}
