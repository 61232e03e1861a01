import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { mayStillStart, sameIdlePod, sharedInFlight } from '../../src/broker/reuse.js';
import { holdsClaim } from '../../src/kube/claim.js';
import { ANNOTATION_LEASE, IDLE_RUN, LABEL_REUSE, LABEL_RUN } from '../../src/names.js';

// A kept pod's status may still read Pending when the next run lists it
// (the run that parked it handed it out before the kubelet reported it
// Running). The adopting run reads it again; these decide whether to wait
// for it and whether the re-read pod may still be claimed.

function pod(over: {
  uid?: string;
  run?: string;
  reuse?: string;
  phase?: string;
  deleting?: boolean;
  terminated?: boolean;
}): V1Pod {
  return {
    metadata: {
      name: 'kc-redis-1-abc',
      uid: over.uid ?? 'uid-1',
      labels: { [LABEL_RUN]: over.run ?? IDLE_RUN, [LABEL_REUSE]: over.reuse ?? 'key-1' },
      ...(over.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    status: {
      phase: over.phase ?? 'Pending',
      containerStatuses: [
        {
          name: 'redis',
          image: 'redis',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: over.terminated
            ? { terminated: { exitCode: 1 } }
            : { waiting: { reason: 'ContainerCreating' } },
        },
      ],
    },
  };
}

describe('adopting a kept pod whose status lags', () => {
  it('waits for a Pending or not yet ready pod, never for one being deleted or ended', () => {
    expect(mayStillStart(pod({}))).toBe(true);
    expect(mayStillStart(pod({ phase: 'Running' }))).toBe(true);
    expect(mayStillStart(pod({ deleting: true }))).toBe(false);
    expect(mayStillStart(pod({ terminated: true }))).toBe(false);
    expect(mayStillStart(pod({ phase: 'Failed' }))).toBe(false);
    expect(mayStillStart(pod({ phase: 'Succeeded' }))).toBe(false);
  });

  it('claims the re-read pod only while it is the same idle pod under the same key', () => {
    const listed = pod({});
    expect(sameIdlePod(pod({ phase: 'Running' }), listed)).toBe(true);
    // Another run claimed it between the list and the re-read.
    expect(sameIdlePod(pod({ run: 'other-run' }), listed)).toBe(false);
    // Deleted and recreated under the same name, or parked under another key.
    expect(sameIdlePod(pod({ uid: 'uid-2' }), listed)).toBe(false);
    expect(sameIdlePod(pod({ reuse: 'key-2' }), listed)).toBe(false);
  });
});

describe('sharedInFlight (one list of kept pods for adoptions that start together)', () => {
  it('callers that ask while a call is pending share it; later callers start a new one', async () => {
    const pending = new Map<string, Promise<number>>();
    let calls = 0;
    let release: (v: number) => void = () => {};
    const make = () => {
      calls += 1;
      return new Promise<number>((r) => {
        release = r;
      });
    };
    const a = sharedInFlight(pending, 'key-1', make);
    const b = sharedInFlight(pending, 'key-1', make);
    expect(b).toBe(a);
    expect(calls).toBe(1);
    // Another key is another list.
    void sharedInFlight(pending, 'key-2', () => Promise.resolve(7));
    release(5);
    expect(await a).toBe(5);
    expect(pending.has('key-1')).toBe(false);
    const c = sharedInFlight(pending, 'key-1', () => Promise.resolve(6));
    expect(c).not.toBe(a);
    expect(await c).toBe(6);
  });

  it('a failed call is not kept: the next caller tries again', async () => {
    const pending = new Map<string, Promise<number>>();
    await expect(
      sharedInFlight(pending, 'k', () => Promise.reject(new Error('API down'))),
    ).rejects.toThrow('API down');
    expect(pending.size).toBe(0);
    expect(await sharedInFlight(pending, 'k', () => Promise.resolve(1))).toBe(1);
  });
});

// A claim sent again after the API server went away mid-request meets its
// own first attempt as a 409 when that attempt landed; reading the pod back
// tells that apart from another run's claim by the lease the claim wrote.
describe('recognising our own claim after a lost answer', () => {
  const claim = {
    runId: 'run-b',
    worker: '1',
    leaseExpiresAt: new Date('2026-12-03T08:00:00.123Z'),
  };
  const withLease = (run: string, lease: string, deleting = false): V1Pod => {
    const p = pod({ run, deleting });
    p.metadata = { ...p.metadata, annotations: { [ANNOTATION_LEASE]: lease } };
    return p;
  };

  it('holds when the run label and the lease time are the ones this claim wrote', () => {
    expect(holdsClaim(withLease('run-b', '2026-12-03T08:00:00.123Z'), claim)).toBe(true);
  });

  it('does not hold for another run, another claim of the same run, an idle or a deleted pod', () => {
    expect(holdsClaim(withLease('run-c', '2026-12-03T08:00:00.123Z'), claim)).toBe(false);
    expect(holdsClaim(withLease('run-b', '2026-12-03T08:00:00.124Z'), claim)).toBe(false);
    expect(holdsClaim(withLease(IDLE_RUN, '2026-12-03T08:00:00.123Z'), claim)).toBe(false);
    expect(holdsClaim(withLease('run-b', '2026-12-03T08:00:00.123Z', true), claim)).toBe(false);
    expect(holdsClaim(undefined, claim)).toBe(false);
  });
});
