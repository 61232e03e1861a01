import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { describeCachePod, groupRuns } from '../../src/kube/inventory.js';
import { selectForReap } from '../../src/kube/reaper.js';

const NOW = new Date('2026-01-01T12:00:00Z');
const GRACE = 60_000;

function pod(
  name: string,
  run: string,
  opts: { ageS: number; leaseS?: number; extra?: Record<string, string>; deleting?: boolean },
): V1Pod {
  const created = new Date(NOW.getTime() - opts.ageS * 1000);
  const annotations: Record<string, string> = {
    'kubecache.dev/created-by-host': 'ci-7',
    'kubecache.dev/created-by-pid': '4242',
    ...(opts.extra ?? {}),
  };
  if (opts.leaseS !== undefined) {
    annotations['kubecache.dev/lease-expires'] = new Date(
      NOW.getTime() + opts.leaseS * 1000,
    ).toISOString();
  }
  return {
    metadata: {
      name,
      creationTimestamp: created,
      ...(opts.deleting ? { deletionTimestamp: NOW } : {}),
      labels: {
        'app.kubernetes.io/managed-by': 'kubecache',
        'kubecache.dev/run': run,
        'kubecache.dev/worker': '1',
        'kubecache.dev/engine': 'redis',
        'kubecache.dev/config-hash': 'abc',
      },
      annotations,
    },
    spec: { containers: [], nodeName: 'node-1' },
    status: {
      phase: 'Running',
      podIP: '10.244.0.9',
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

function secret(name: string, run: string, ageS: number): V1Secret {
  return {
    metadata: {
      name,
      creationTimestamp: new Date(NOW.getTime() - ageS * 1000),
      labels: { 'app.kubernetes.io/managed-by': 'kubecache', 'kubecache.dev/run': run },
    },
  };
}

describe('describeCachePod', () => {
  it('reads run, engine, lease, holder and unknown kubecache keys from the pod', () => {
    const info = describeCachePod(
      pod('kc-a', 'run0000001', { ageS: 90, leaseS: 30, extra: { 'kubecache.dev/note': 'x' } }),
      NOW,
      GRACE,
    );
    expect(info).toMatchObject({
      name: 'kc-a',
      run: 'run0000001',
      engine: 'redis',
      worker: '1',
      phase: 'Running',
      ready: true,
      ageMs: 90_000,
      leaseInMs: 30_000,
      lease: 'live',
      host: 'ci-7',
      pid: 4242,
      node: 'node-1',
      deleting: false,
      reuse: 'none',
      extra: { note: 'x' },
    });
  });

  it('tells a kept idle pod from a kept pod a run holds again', () => {
    const kept = (run: string) => {
      const p = pod('kc-k', run, { ageS: 10, leaseS: 300 });
      (p.metadata?.labels ?? {})['kubecache.dev/reuse'] = 'abc123';
      return describeCachePod(p, NOW, GRACE);
    };
    expect(kept('idle')).toMatchObject({ reuse: 'idle', reuseKey: 'abc123', extra: {} });
    expect(kept('run0000002')).toMatchObject({ reuse: 'reused', reuseKey: 'abc123' });
  });

  it('counts a lease in the past as expired, and a pod without one by its age', () => {
    expect(describeCachePod(pod('a', 'r', { ageS: 10, leaseS: -5 }), NOW, GRACE).lease).toBe(
      'expired',
    );
    expect(describeCachePod(pod('b', 'r', { ageS: 10 }), NOW, GRACE).lease).toBe('live');
    expect(describeCachePod(pod('c', 'r', { ageS: 120 }), NOW, GRACE).lease).toBe('expired');
  });
});

describe('groupRuns', () => {
  it('groups pods and secrets by run, newest first, a run live while any pod is', () => {
    const runs = groupRuns(
      [
        pod('kc-old-2', 'oldrun0001', { ageS: 600, leaseS: -300 }),
        pod('kc-new', 'newrun0001', { ageS: 20, leaseS: 40 }),
        pod('kc-old-1', 'oldrun0001', { ageS: 500, leaseS: 10 }),
      ],
      [secret('kc-seed-x', 'oldrun0001', 600), secret('kc-seed-y', 'lonely0001', 5)],
      NOW,
      GRACE,
    );
    expect(runs.map((r) => r.run)).toEqual(['lonely0001', 'newrun0001', 'oldrun0001']);
    const old = runs[2];
    expect(old?.pods.map((p) => p.name)).toEqual(['kc-old-1', 'kc-old-2']);
    expect(old?.lease).toBe('live');
    expect(old?.leaseInMs).toBe(10_000);
    expect(old?.ageMs).toBe(600_000);
    expect(old?.secrets).toEqual(['kc-seed-x']);
    expect(old?.host).toBe('ci-7');
    // A secret younger than the grace period counts as live.
    expect(runs[0]?.lease).toBe('live');
  });
});

describe('selectForReap', () => {
  const pods = [
    pod('expired', 'aaaaaaaaaa', { ageS: 300, leaseS: -10 }),
    pod('live', 'aaaaaaaaaa', { ageS: 300, leaseS: 30 }),
    pod('other-run', 'bbbbbbbbbb', { ageS: 300, leaseS: 30 }),
    pod('going', 'bbbbbbbbbb', { ageS: 300, leaseS: -30, deleting: true }),
  ];
  const names = (list: V1Pod[]) => list.map((p) => p.metadata?.name);

  it('takes only expired leases by default', () => {
    expect(names(selectForReap(pods, { kind: 'expired' }, { now: NOW, graceMs: GRACE }))).toEqual([
      'expired',
    ]);
  });

  it('takes a whole run, live or not, with --run', () => {
    expect(
      names(
        selectForReap(pods, { kind: 'run', runId: 'aaaaaaaaaa' }, { now: NOW, graceMs: GRACE }),
      ),
    ).toEqual(['expired', 'live']);
  });

  it('takes everything not already being deleted with --all', () => {
    expect(names(selectForReap(pods, { kind: 'all' }, { now: NOW, graceMs: GRACE }))).toEqual([
      'expired',
      'live',
      'other-run',
    ]);
  });
});
