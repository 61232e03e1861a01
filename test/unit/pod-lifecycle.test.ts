import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_ERROR_GRACE_MS,
  initialState,
  type LifecycleAction,
  type LifecycleEvent,
  type LifecycleState,
  transition,
} from '../../src/kube/pod-lifecycle.js';

const here = dirname(fileURLToPath(import.meta.url));
const RECORDED = join(here, 'fixtures', 'pod-events');

/**
 * A recording: the watch events of one real cache pod on the dev cluster
 * (kubectl get pod -w -o json), as [{type, object}], plus what happened.
 */
interface Recording {
  about: string;
  container: string;
  /** Index of the event after which the engine answered its probe, if it did. */
  engineReadyAfter?: number;
  events: { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: V1Pod }[];
}

function load(name: string): Recording {
  return JSON.parse(readFileSync(join(RECORDED, name), 'utf8')) as Recording;
}

/** Runs a recording through the machine; returns every state and all actions. */
function replay(rec: Recording): { states: LifecycleState[]; actions: LifecycleAction[] } {
  let state = initialState(rec.events[0]?.object.metadata?.name ?? 'p', rec.container);
  const states: LifecycleState[] = [];
  const actions: LifecycleAction[] = [];
  rec.events.forEach((e, i) => {
    const steps: LifecycleEvent[] = [
      { type: 'observed', kind: e.type, pod: e.object, at: i * 100 },
    ];
    if (rec.engineReadyAfter === i) steps.push({ type: 'engine-ready', at: i * 100 + 50 });
    for (const step of steps) {
      const t = transition(state, step);
      state = t.state;
      actions.push(...t.actions);
      states.push(state);
    }
  });
  return { states, actions };
}

function pod(status: V1Pod['status'], extra: Partial<V1Pod> = {}): V1Pod {
  return {
    metadata: { name: 'kc-p', ...extra.metadata },
    spec: {
      containers: [{ name: 'redis', resources: { limits: { memory: '48Mi' } } }],
      nodeName: 'node-1',
      activeDeadlineSeconds: 3600,
      ...extra.spec,
    },
    status,
  };
}

const running = (ip = '10.244.0.9') =>
  pod({
    phase: 'Running',
    podIP: ip,
    containerStatuses: [
      {
        name: 'redis',
        image: 'redis:7-alpine',
        imageID: '',
        ready: true,
        restartCount: 0,
        state: { running: { startedAt: new Date() } },
      },
    ],
  });

function ready(): LifecycleState {
  let s = initialState('kc-p', 'redis');
  s = transition(s, { type: 'observed', kind: 'MODIFIED', pod: running(), at: 10 }).state;
  return transition(s, { type: 'engine-ready', at: 20 }).state;
}

describe('pod lifecycle transitions', () => {
  it('records milestones and becomes ready when the engine answers', () => {
    const s0 = initialState('kc-p', 'redis');
    const scheduled = transition(s0, {
      type: 'observed',
      kind: 'MODIFIED',
      pod: pod({ phase: 'Pending' }),
      at: 5,
    });
    expect(scheduled.state.stage).toBe('starting');
    expect(scheduled.state.timings.scheduled).toBe(5);
    const up = transition(scheduled.state, {
      type: 'observed',
      kind: 'MODIFIED',
      pod: running(),
      at: 40,
    });
    expect(up.state.podIP).toBe('10.244.0.9');
    expect(up.state.timings).toEqual({ scheduled: 5, ip: 40, running: 40 });
    const done = transition(up.state, { type: 'engine-ready', at: 45 });
    expect(done.state.stage).toBe('ready');
    expect(done.actions).toEqual([]);
  });

  it('fails a start on an image pull error and ignores everything after', () => {
    const s = transition(initialState('kc-p', 'redis'), {
      type: 'observed',
      kind: 'MODIFIED',
      pod: pod({
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'redis',
            image: 'nope:1',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'ErrImagePull', message: 'not found' } },
          },
        ],
      }),
      at: 10,
    });
    expect(s.state.stage).toBe('failed');
    expect(s.actions).toEqual([
      { type: 'fail', failure: expect.objectContaining({ code: 'IMAGE_PULL' }) },
    ]);
    expect(transition(s.state, { type: 'engine-ready', at: 20 })).toEqual({
      state: s.state,
      actions: [],
    });
  });

  it('gives CreateContainerConfigError a grace period, then fails on the recheck', () => {
    const configError = pod({
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'redis',
          image: 'redis',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret not found' } },
        },
      ],
    });
    const first = transition(initialState('kc-p', 'redis'), {
      type: 'observed',
      kind: 'MODIFIED',
      pod: configError,
      at: 100,
    });
    expect(first.state.stage).toBe('starting');
    expect(first.actions).toEqual([{ type: 'recheck-after', ms: CONFIG_ERROR_GRACE_MS }]);
    // The same error again inside the grace asks for nothing new.
    const again = transition(first.state, {
      type: 'observed',
      kind: 'MODIFIED',
      pod: configError,
      at: 2000,
    });
    expect(again.actions).toEqual([]);
    // The kubelet found the Secret: the grace resets.
    const fixed = transition(again.state, {
      type: 'observed',
      kind: 'MODIFIED',
      pod: running(),
      at: 3000,
    });
    expect(fixed.state.configErrorSince).toBeUndefined();
    // Persisting past the grace fails the start.
    const late = transition(again.state, {
      type: 'recheck',
      pod: configError,
      at: 100 + CONFIG_ERROR_GRACE_MS,
    });
    expect(late.state.stage).toBe('failed');
    expect(late.state.failure?.code).toBe('CRASHED');
  });

  it('fails a start whose pod is deleted, or that is cancelled', () => {
    const s0 = initialState('kc-p', 'redis');
    const deleted = transition(s0, { type: 'observed', kind: 'DELETED', pod: pod({}), at: 1 });
    expect(deleted.state.failure?.code).toBe('POD_GONE');
    const cancelled = transition(s0, { type: 'cancelled' });
    expect(cancelled.state.stage).toBe('failed');
    expect(cancelled.state.failure?.message).toContain('cancelled');
    // Cancelling a ready pod is not a failure: teardown deletes it.
    expect(transition(ready(), { type: 'cancelled' }).actions).toEqual([]);
  });

  it('retires a ready pod that was OOMKilled, naming the limit and the fix', () => {
    const oom = pod({
      phase: 'Failed',
      containerStatuses: [
        {
          name: 'redis',
          image: 'redis',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
        },
      ],
    });
    const t = transition(ready(), { type: 'observed', kind: 'MODIFIED', pod: oom, at: 99 });
    expect(t.state.stage).toBe('dead');
    expect(t.actions).toHaveLength(1);
    const action = t.actions[0] as Extract<LifecycleAction, { type: 'retire' }>;
    expect(action.death.reason).toBe('OOMKilled');
    expect(action.death.message).toContain('48Mi');
    expect(action.death.message).toContain('resources.limits.memory');
  });

  it('retires a ready pod that was evicted, hit its deadline, exited or was deleted', () => {
    const evicted = pod({
      phase: 'Failed',
      reason: 'Evicted',
      message: 'The node was low on resource: memory.',
    });
    expect(
      transition(ready(), { type: 'observed', kind: 'MODIFIED', pod: evicted, at: 1 }).state.death
        ?.message,
    ).toContain('low on resource');
    const deadline = pod({
      phase: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
    expect(
      transition(ready(), { type: 'observed', kind: 'MODIFIED', pod: deadline, at: 1 }).state.death
        ?.reason,
    ).toBe('DeadlineExceeded');
    const exited = pod({
      phase: 'Failed',
      containerStatuses: [
        {
          name: 'redis',
          image: 'redis',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0, reason: 'Completed' } },
        },
      ],
    });
    const e = transition(ready(), { type: 'observed', kind: 'MODIFIED', pod: exited, at: 1 });
    expect(e.state.death?.reason).toBe('Exited');
    expect(e.state.death?.exited).toBe(true);
    expect(
      transition(ready(), { type: 'observed', kind: 'DELETED', pod: running(), at: 1 }).state.death
        ?.reason,
    ).toBe('Deleted');
    // A status update of a healthy pod is nothing.
    expect(
      transition(ready(), { type: 'observed', kind: 'MODIFIED', pod: running(), at: 1 }).actions,
    ).toEqual([]);
  });
});

describe('pod lifecycle on recorded pod events', () => {
  const files = readdirSync(RECORDED).filter((f) => f.endsWith('.json'));

  it('has recordings to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  it.each(files)('%s ends as recorded', (file) => {
    const rec = load(file);
    const { states, actions } = replay(rec);
    const last = states.at(-1) as LifecycleState;
    const expected = JSON.parse(
      readFileSync(join(RECORDED, file.replace(/\.json$/, '.expected')), 'utf8'),
    ) as {
      stage: string;
      failureCode?: string;
      deathReason?: string;
    };
    expect(last.stage, rec.about).toBe(expected.stage);
    // Unconditional: a recording that expects no failure (or no death) must not end with one.
    expect(last.failure?.code, rec.about).toBe(expected.failureCode);
    expect(last.death?.reason, rec.about).toBe(expected.deathReason);
    // Exactly one terminal action at most: a pod fails or dies once.
    expect(actions.filter((a) => a.type === 'fail' || a.type === 'retire').length).toBe(
      expected.stage === 'failed' || expected.stage === 'dead' ? 1 : 0,
    );
  });
});
