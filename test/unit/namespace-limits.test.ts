import type { V1LimitRange } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCES, type ResolvedResources } from '../../src/config/options.js';
import { fitDefaultsToLimitRanges, type ResourcePath } from '../../src/kube/limit-range.js';
import { parseQuotaMessage, quotaVerdict } from '../../src/kube/quota.js';

const defaults = (): ResolvedResources => ({
  requests: { ...DEFAULT_RESOURCES.requests },
  limits: { ...DEFAULT_RESOURCES.limits },
});

function limitRange(
  max: Record<string, string>,
  min: Record<string, string> = {},
  type = 'Container',
): V1LimitRange {
  return { metadata: { name: 'lr' }, spec: { limits: [{ type, max, min }] } };
}

describe('fitting kubecache defaults into LimitRanges', () => {
  it('lowers default limits to the max (128Mi, 200m) and keeps requests below them', () => {
    const { resources, changes } = fitDefaultsToLimitRanges(defaults(), new Set(), [
      limitRange({ memory: '128Mi', cpu: '200m' }),
    ]);
    expect(resources.limits).toEqual({ cpu: '200m', memory: '128Mi' });
    expect(resources.requests).toEqual(DEFAULT_RESOURCES.requests);
    expect(changes.join(' ')).toContain('256Mi -> 128Mi');
  });

  it('never changes a value the user set', () => {
    const user = defaults();
    user.limits.memory = '1Gi';
    const set = new Set<ResourcePath>(['limits.memory']);
    const { resources } = fitDefaultsToLimitRanges(user, set, [
      limitRange({ memory: '128Mi', cpu: '200m' }),
    ]);
    expect(resources.limits.memory).toBe('1Gi');
    expect(resources.limits.cpu).toBe('200m');
  });

  it('raises default requests to a min, and lowers a default request below a user limit', () => {
    const { resources } = fitDefaultsToLimitRanges(defaults(), new Set(), [
      limitRange({}, { memory: '64Mi', cpu: '100m' }),
    ]);
    expect(resources.requests).toEqual({ cpu: '100m', memory: '64Mi' });
    const user = defaults();
    user.limits.memory = '16Mi';
    const { resources: r2 } = fitDefaultsToLimitRanges(
      user,
      new Set<ResourcePath>(['limits.memory']),
      [],
    );
    expect(r2.requests.memory).toBe('16Mi');
  });

  it('takes the tightest of several ranges and ignores PVC items', () => {
    const { resources } = fitDefaultsToLimitRanges(defaults(), new Set(), [
      limitRange({ memory: '200Mi' }),
      limitRange({ memory: '100Mi' }, {}, 'Pod'),
      limitRange({ storage: '1Gi' }, {}, 'PersistentVolumeClaim'),
    ]);
    expect(resources.limits.memory).toBe('100Mi');
  });

  it('leaves everything alone without LimitRanges', () => {
    expect(fitDefaultsToLimitRanges(defaults(), new Set(), []).changes).toEqual([]);
  });
});

describe('pod quota arithmetic', () => {
  const msg =
    'pods "kc-redis-3" is forbidden: exceeded quota: pods-3, requested: pods=1, used: pods=3, limited: pods=3';

  it('reads requested, used and limited', () => {
    expect(parseQuotaMessage(msg)).toEqual([
      { resource: 'pods', requested: '1', used: '3', limited: '3' },
    ]);
    expect(
      parseQuotaMessage(
        'exceeded quota: q, requested: pods=1,requests.memory=32Mi, used: pods=1,requests.memory=100Mi, limited: pods=5,requests.memory=128Mi',
      ).find((f) => f.resource === 'requests.memory'),
    ).toEqual({ resource: 'requests.memory', requested: '32Mi', used: '100Mi', limited: '128Mi' });
  });

  it('fails at once when the run itself fills the quota, with the arithmetic', () => {
    const v = quotaVerdict(msg, 3);
    expect(v.waitable).toBe(false);
    expect(v.summary).toContain('already holds 3 cache pod(s)');
    expect(v.summary).toContain('workers × caches');
  });

  it('waits when other runs hold the room', () => {
    expect(quotaVerdict(msg, 1).waitable).toBe(true);
  });
});
