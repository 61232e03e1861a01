import type { ResolvedResources } from '../config/options.js';
import { quantityValue } from '../config/validate.js';
import type { V1LimitRange } from './client-node.js';

export type ResourcePath = `${'requests' | 'limits'}.${'cpu' | 'memory'}`;

export interface FittedResources {
  resources: ResolvedResources;
  /** What was changed and why, for one progress line. */
  changes: string[];
}

interface Bounds {
  min: Partial<Record<'cpu' | 'memory', string>>;
  max: Partial<Record<'cpu' | 'memory', string>>;
}

/** The tightest Container (and Pod: a cache pod has one container) min and max of all LimitRanges. */
export function containerBounds(ranges: readonly V1LimitRange[]): Bounds {
  const bounds: Bounds = { min: {}, max: {} };
  for (const range of ranges) {
    for (const item of range.spec?.limits ?? []) {
      if (item.type !== 'Container' && item.type !== 'Pod') continue;
      for (const kind of ['cpu', 'memory'] as const) {
        const max = item.max?.[kind] as string | undefined;
        const min = item.min?.[kind] as string | undefined;
        const curMax = bounds.max[kind];
        const curMin = bounds.min[kind];
        if (max && (!curMax || quantityValue(max) < quantityValue(curMax))) bounds.max[kind] = max;
        if (min && (!curMin || quantityValue(min) > quantityValue(curMin))) bounds.min[kind] = min;
      }
    }
  }
  return bounds;
}

/**
 * Pure: moves kubecache's own default requests and limits inside the
 * namespace's LimitRanges, so a shared namespace whose max is below the
 * defaults (say 128Mi, 200m) still runs caches. Values the user set
 * (`userSet`) are never changed: a LimitRange that rejects those is the
 * user's to resolve, and the API server says so (LIMIT_RANGE).
 */
export function fitDefaultsToLimitRanges(
  resources: ResolvedResources,
  userSet: ReadonlySet<ResourcePath>,
  ranges: readonly V1LimitRange[],
): FittedResources {
  const bounds = containerBounds(ranges);
  const out: ResolvedResources = {
    requests: { ...resources.requests },
    limits: { ...resources.limits },
  };
  const changes: string[] = [];
  const set = (side: 'requests' | 'limits', kind: 'cpu' | 'memory', value: string, why: string) => {
    if (userSet.has(`${side}.${kind}`) || out[side][kind] === value) return;
    changes.push(`${side}.${kind} ${out[side][kind]} -> ${value} (${why})`);
    out[side][kind] = value;
  };
  for (const kind of ['cpu', 'memory'] as const) {
    const max = bounds.max[kind];
    const min = bounds.min[kind];
    for (const side of ['limits', 'requests'] as const) {
      if (max && quantityValue(out[side][kind]) > quantityValue(max)) {
        set(side, kind, max, `LimitRange max ${max}`);
      }
      if (min && quantityValue(out[side][kind]) < quantityValue(min)) {
        set(side, kind, min, `LimitRange min ${min}`);
      }
    }
    // Keep request <= limit, moving whichever side is kubecache's own.
    if (quantityValue(out.requests[kind]) > quantityValue(out.limits[kind])) {
      if (!userSet.has(`requests.${kind}`)) {
        set('requests', kind, out.limits[kind], 'not above the limit');
      } else set('limits', kind, out.requests[kind], 'not below the request');
    }
  }
  return { resources: out, changes };
}
