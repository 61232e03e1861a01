import {
  ANNOTATION_HOST,
  ANNOTATION_LEASE,
  ANNOTATION_PID,
  IDLE_RUN,
  LABEL_CONFIG_HASH,
  LABEL_ENGINE,
  LABEL_MANAGED_BY,
  LABEL_PREFIX,
  LABEL_REUSE,
  LABEL_RUN,
  LABEL_WORKER,
  managedSelector,
} from '../names.js';
import type { KubeHandle } from './client.js';
import type { V1ObjectMeta, V1Pod, V1Secret } from './client-node.js';
import { listPods, listSecrets } from './pods.js';
import { leaseExpired } from './reaper.js';

export type LeaseState = 'live' | 'expired';

/**
 * A pod's place in warm reuse (kube/claim.ts): `none` for a pod its run
 * deletes at teardown, `idle` for a kept pod waiting for the next matching
 * run (its lease is its idle time), `reused` for a kept pod a run now holds.
 */
export type ReuseState = 'none' | 'idle' | 'reused';

export interface CachePodInfo {
  name: string;
  run: string;
  worker: string;
  engine: string;
  phase: string;
  ready: boolean;
  podIP?: string;
  node?: string;
  createdAt?: string;
  /** Age in ms at `now`. */
  ageMs?: number;
  leaseExpiresAt?: string;
  /** Lease expiry minus `now`, in ms; negative once expired. */
  leaseInMs?: number;
  lease: LeaseState;
  host?: string;
  pid?: number;
  deleting: boolean;
  reuse: ReuseState;
  /** The reuse key (a hash of what makes kept pods interchangeable), for kept pods. */
  reuseKey?: string;
  /**
   * Any other kubecache.dev/ labels and annotations, such as reuse state,
   * shown as they are so new keys appear without a CLI change.
   */
  extra: Record<string, string>;
}

export interface RunInfo {
  run: string;
  pods: CachePodInfo[];
  secrets: string[];
  /** Host and pid of the process that created the run's pods (first pod that says). */
  host?: string;
  pid?: number;
  /** Age of the oldest pod. */
  ageMs?: number;
  /** Latest lease expiry among the run's pods. */
  leaseExpiresAt?: string;
  leaseInMs?: number;
  /** live while any of its pods' leases is live. */
  lease: LeaseState;
}

const KNOWN_KEYS = new Set([
  LABEL_MANAGED_BY,
  LABEL_RUN,
  LABEL_WORKER,
  LABEL_ENGINE,
  LABEL_CONFIG_HASH,
  LABEL_REUSE,
  ANNOTATION_LEASE,
  ANNOTATION_HOST,
  ANNOTATION_PID,
]);

function extras(meta: V1ObjectMeta | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const map of [meta?.labels, meta?.annotations]) {
    for (const [key, value] of Object.entries(map ?? {})) {
      if (key.startsWith(LABEL_PREFIX) && !KNOWN_KEYS.has(key))
        out[key.slice(LABEL_PREFIX.length)] = value;
    }
  }
  return out;
}

function timeOf(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const t = value instanceof Date ? value.getTime() : Date.parse(String(value));
  return Number.isNaN(t) ? undefined : t;
}

/** Pure: what `kubecache ls` shows about one cache pod. */
export function describeCachePod(pod: V1Pod, now: Date, graceMs: number): CachePodInfo {
  const meta = pod.metadata;
  const created = timeOf(meta?.creationTimestamp);
  const lease = timeOf(meta?.annotations?.[ANNOTATION_LEASE]);
  const pid = Number(meta?.annotations?.[ANNOTATION_PID]);
  const host = meta?.annotations?.[ANNOTATION_HOST];
  const info: CachePodInfo = {
    name: meta?.name ?? '',
    run: meta?.labels?.[LABEL_RUN] ?? '',
    worker: meta?.labels?.[LABEL_WORKER] ?? '',
    engine: meta?.labels?.[LABEL_ENGINE] ?? '',
    phase: pod.status?.phase ?? 'Unknown',
    ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    lease: leaseExpired(meta, now, graceMs) ? 'expired' : 'live',
    deleting: Boolean(meta?.deletionTimestamp),
    reuse: 'none',
    extra: extras(meta),
  };
  const reuseKey = meta?.labels?.[LABEL_REUSE];
  if (reuseKey) {
    info.reuseKey = reuseKey;
    info.reuse = info.run === IDLE_RUN ? 'idle' : 'reused';
  }
  if (pod.status?.podIP) info.podIP = pod.status.podIP;
  if (pod.spec?.nodeName) info.node = pod.spec.nodeName;
  if (created !== undefined) {
    info.createdAt = new Date(created).toISOString();
    info.ageMs = now.getTime() - created;
  }
  if (lease !== undefined) {
    info.leaseExpiresAt = new Date(lease).toISOString();
    info.leaseInMs = lease - now.getTime();
  }
  if (host) info.host = host;
  if (Number.isInteger(pid) && pid > 0) info.pid = pid;
  return info;
}

/** Pure: groups pods and their secrets by run, newest run first. */
export function groupRuns(
  pods: readonly V1Pod[],
  secrets: readonly V1Secret[],
  now: Date,
  graceMs: number,
): RunInfo[] {
  const runs = new Map<string, RunInfo>();
  const runOf = (id: string): RunInfo => {
    let run = runs.get(id);
    if (!run) {
      run = { run: id, pods: [], secrets: [], lease: 'expired' };
      runs.set(id, run);
    }
    return run;
  };
  for (const pod of pods) {
    const info = describeCachePod(pod, now, graceMs);
    const run = runOf(info.run);
    run.pods.push(info);
    if (run.host === undefined && info.host !== undefined) run.host = info.host;
    if (run.pid === undefined && info.pid !== undefined) run.pid = info.pid;
    if (info.ageMs !== undefined) run.ageMs = Math.max(run.ageMs ?? 0, info.ageMs);
    if (info.lease === 'live') run.lease = 'live';
    if (
      info.leaseInMs !== undefined &&
      (run.leaseInMs === undefined || info.leaseInMs > run.leaseInMs)
    ) {
      run.leaseInMs = info.leaseInMs;
      if (info.leaseExpiresAt) run.leaseExpiresAt = info.leaseExpiresAt;
    }
  }
  for (const secret of secrets) {
    const meta = secret.metadata;
    const run = runOf(meta?.labels?.[LABEL_RUN] ?? '');
    run.secrets.push(meta?.name ?? '');
    // A run whose only objects are secrets is judged by the secrets' leases.
    if (run.pods.length === 0 && !leaseExpired(meta, now, graceMs)) run.lease = 'live';
  }
  for (const run of runs.values()) run.pods.sort((a, b) => a.name.localeCompare(b.name));
  return [...runs.values()].sort(
    (a, b) => (a.ageMs ?? 0) - (b.ageMs ?? 0) || a.run.localeCompare(b.run),
  );
}

/** Every kubecache pod and secret in the handle's namespace. */
export async function listInventory(
  handle: KubeHandle,
): Promise<{ pods: V1Pod[]; secrets: V1Secret[] }> {
  const selector = managedSelector();
  const [pods, secrets] = await Promise.all([
    listPods(handle, selector),
    listSecrets(handle, selector),
  ]);
  return { pods, secrets };
}
