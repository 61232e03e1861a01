/** One resource a ResourceQuota rejection names: requested, used and hard limit. */
export interface QuotaFigure {
  resource: string;
  requested: string;
  used: string;
  limited: string;
}

/**
 * Pure: reads the figures of a quota rejection, whose message the API server
 * writes as "exceeded quota: <name>, requested: pods=1, used: pods=3,
 * limited: pods=3" (several resources are comma-separated in each part).
 */
export function parseQuotaMessage(message: string): QuotaFigure[] {
  const part = (label: string): Map<string, string> => {
    const m = new RegExp(`${label}: ([^:]+?)(?:, (?:requested|used|limited):|$)`).exec(message);
    const out = new Map<string, string>();
    for (const pair of (m?.[1] ?? '').split(',')) {
      const [k, v] = pair.trim().split('=');
      if (k && v) out.set(k, v);
    }
    return out;
  };
  const requested = part('requested');
  const used = part('used');
  const limited = part('limited');
  return [...requested.keys()].map((resource) => ({
    resource,
    requested: requested.get(resource) ?? '?',
    used: used.get(resource) ?? '?',
    limited: limited.get(resource) ?? '?',
  }));
}

/**
 * Pure: whether waiting can help. The pods a run holds stay until its end
 * (every worker keeps its caches), so when this run's own pods already fill
 * the pod quota no other run can free room: fail at once with the
 * arithmetic. Otherwise other runs' pods may go soon.
 */
export function quotaVerdict(
  message: string,
  runPods: number,
): { waitable: boolean; summary: string } {
  const figures = parseQuotaMessage(message);
  const pods = figures.find((f) => f.resource === 'pods' || f.resource === 'count/pods');
  const shown = figures
    .map((f) => `${f.resource}: ${f.used} used of ${f.limited}, ${f.requested} more requested`)
    .join('; ');
  if (pods && Number(pods.limited) <= runPods) {
    return {
      waitable: false,
      summary: `this run already holds ${runPods} cache pod(s) and the quota allows ${pods.limited} pods in all; it needs one per test worker and cache (workers × caches), so run at most ${pods.limited} workers × caches, or raise the quota (${shown})`,
    };
  }
  return {
    waitable: true,
    summary: `${shown || message}; this run holds ${runPods} cache pod(s)`,
  };
}
