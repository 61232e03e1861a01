import createDebug from 'debug';
import { ANNOTATION_LEASE, IDLE_RUN, LABEL_RUN, managedSelector } from '../names.js';
import type { KubeHandle } from './client.js';
import type { V1ObjectMeta } from './client-node.js';
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
  /** The subset of `pods` that were kept for reuse and stayed idle past their idle time. */
  idle: string[];
}

/**
 * Deletes kubecache pods and secrets in the namespace whose lease expired:
 * leftovers of runs that died without teardown (SIGKILL, OOM, a CI job
 * cancelled) and kept pods idle past their idle time. Live runs renew their
 * leases, so their pods are left alone; `ownRunId` is skipped outright.
 */
export function reapExpired(
  handle: KubeHandle,
  opts: { now?: Date; graceMs: number; ownRunId?: string },
): Promise<ReapReport> {
  return reap(handle, { kind: 'expired' }, opts);
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
  opts: { now: Date; graceMs: number; ownRunId?: string },
): T[] {
  return objects.filter((o) => {
    if (o.metadata?.deletionTimestamp) return false;
    if (opts.ownRunId && o.metadata?.labels?.[LABEL_RUN] === opts.ownRunId) return false;
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
  opts: { now?: Date; graceMs: number; dryRun?: boolean; ownRunId?: string },
): Promise<ReapReport> {
  const now = opts.now ?? new Date(handle.clock.now());
  const selector = managedSelector();
  const pods = selectForReap(await listPods(handle, selector), scope, { ...opts, now });
  const secrets = selectForReap(await listSecrets(handle, selector), scope, { ...opts, now });
  const names = (list: { metadata?: V1ObjectMeta }[]) => list.map((o) => o.metadata?.name ?? '');
  // A kept pod's lease is its idle time (kube/claim.ts parkPod), so the same
  // expiry rule reaps pods no later run came back for.
  const idleOf = (list: string[]) =>
    list.filter((n) =>
      pods.some((p) => p.metadata?.name === n && p.metadata?.labels?.[LABEL_RUN] === IDLE_RUN),
    );
  if (opts.dryRun) {
    return { pods: names(pods), secrets: names(secrets), idle: idleOf(names(pods)) };
  }
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
  const deletedPods = deleted.filter((n): n is string => n !== undefined);
  const report: ReapReport = {
    pods: deletedPods,
    secrets: names(secrets),
    idle: idleOf(deletedPods),
  };
  debug('reaped (%s) %o', scope.kind, report);
  return report;
}
