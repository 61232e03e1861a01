import type { ErrorCode } from '../errors.js';
import type { V1Pod } from './client-node.js';
import { type PodDeath, podDeath } from './pod-death.js';
import { podFailure, podProgress } from './pod-status.js';

/**
 * The life of one cache pod as kubecache sees it, from the create to the
 * end. Transitions are a pure function of (state, event), so every rule is
 * unit-tested on recorded pod objects; start-cache-pod.ts and the broker
 * only feed it watch events and carry out the actions it returns.
 *
 *   starting ──(engine answered)──▶ ready ──(died in place)──▶ dead
 *      │                              │
 *      └──(failure, deleted, cancel)──┴──(deleted)──▶ failed / dead
 */
export type Stage = 'starting' | 'ready' | 'failed' | 'dead';

export interface LifecycleFailure {
  code: Extract<ErrorCode, 'IMAGE_PULL' | 'CRASHED' | 'UNSCHEDULABLE' | 'POD_GONE' | 'INTERNAL'>;
  reason: string;
  message: string;
}

export interface LifecycleState {
  stage: Stage;
  name: string;
  /** The cache container, whose termination means death. */
  container: string;
  /** Milliseconds since the create for each milestone, for the progress line. */
  timings: { scheduled?: number; ip?: number; running?: number };
  scheduled: boolean;
  podIP: string | undefined;
  /** Since when the kubelet reports CreateContainerConfigError (it retries; fatal if it persists). */
  configErrorSince: number | undefined;
  failure: LifecycleFailure | undefined;
  death: PodDeath | undefined;
}

export type LifecycleEvent =
  /** A watch event or a relisted pod; `at` is ms since the create. */
  | { type: 'observed'; kind: 'ADDED' | 'MODIFIED' | 'DELETED'; pod: V1Pod; at: number }
  /** A re-check the machine asked for (a grace period ended). */
  | { type: 'recheck'; pod: V1Pod; at: number }
  /** The engine answered its protocol probe. */
  | { type: 'engine-ready'; at: number }
  /** Something around the start failed (seed push, Secret owner patch). */
  | { type: 'prepare-failed'; message: string }
  /** The run is tearing down. */
  | { type: 'cancelled' };

export type LifecycleAction =
  /** Feed a `recheck` event with the latest pod after `ms`. */
  | { type: 'recheck-after'; ms: number }
  /** The start cannot succeed: fail it with this error (and delete the pod). */
  | { type: 'fail'; failure: LifecycleFailure }
  /** A ready pod died in place: retire its lease with this reason (and delete the pod). */
  | { type: 'retire'; death: PodDeath };

/** How long CreateContainerConfigError may last: usually a just-created Secret the kubelet has not seen. */
export const CONFIG_ERROR_GRACE_MS = 5_000;

export function initialState(name: string, container: string): LifecycleState {
  return {
    stage: 'starting',
    name,
    container,
    timings: {},
    scheduled: false,
    podIP: undefined,
    configErrorSince: undefined,
    failure: undefined,
    death: undefined,
  };
}

export interface Transition {
  state: LifecycleState;
  actions: LifecycleAction[];
}

export function transition(state: LifecycleState, event: LifecycleEvent): Transition {
  if (state.stage === 'failed' || state.stage === 'dead') return { state, actions: [] };
  switch (event.type) {
    case 'cancelled':
      return state.stage === 'starting'
        ? fail(state, {
            code: 'INTERNAL',
            reason: 'Cancelled',
            message: `start of pod ${state.name} was cancelled (teardown).`,
          })
        : { state, actions: [] };
    case 'prepare-failed':
      return state.stage === 'starting'
        ? fail(state, {
            code: 'INTERNAL',
            reason: 'PrepareFailed',
            message: `preparing pod ${state.name} failed: ${event.message}`,
          })
        : { state, actions: [] };
    case 'engine-ready':
      if (state.stage !== 'starting') return { state, actions: [] };
      return {
        state: {
          ...state,
          stage: 'ready',
          timings: { ...state.timings, running: state.timings.running ?? event.at },
        },
        actions: [],
      };
    case 'observed':
    case 'recheck':
      return observe(
        state,
        event.type === 'observed' ? event.kind : 'MODIFIED',
        event.pod,
        event.at,
        event.type === 'recheck',
      );
  }
}

function observe(
  state: LifecycleState,
  kind: 'ADDED' | 'MODIFIED' | 'DELETED',
  pod: V1Pod,
  at: number,
  recheck: boolean,
): Transition {
  const p = podProgress(pod);
  const timings = { ...state.timings };
  if (p.scheduled) timings.scheduled ??= at;
  if (p.podIP) timings.ip ??= at;
  if (p.running) timings.running ??= at;
  const next: LifecycleState = {
    ...state,
    timings,
    scheduled: state.scheduled || p.scheduled,
    podIP: p.podIP ?? state.podIP,
  };
  if (state.stage === 'ready') {
    const death =
      kind === 'DELETED'
        ? {
            reason: 'Deleted' as const,
            message: `pod ${state.name} was deleted from outside this run (kubectl delete, eviction or activeDeadlineSeconds).`,
            exited: false,
          }
        : podDeath(pod, state.container);
    if (!death) return { state: next, actions: [] };
    return { state: { ...next, stage: 'dead', death }, actions: [{ type: 'retire', death }] };
  }
  if (kind === 'DELETED') {
    return fail(next, {
      code: 'POD_GONE',
      reason: 'Deleted',
      message: `pod ${state.name} was deleted while it was starting.`,
    });
  }
  const f = podFailure(pod);
  if (f?.reason === 'CreateContainerConfigError') {
    const since = state.configErrorSince ?? at;
    if (at - since < CONFIG_ERROR_GRACE_MS) {
      // Ask once to look again when the grace ends (a recheck does not ask twice).
      const actions: LifecycleAction[] =
        state.configErrorSince === undefined || recheck
          ? [{ type: 'recheck-after', ms: CONFIG_ERROR_GRACE_MS - (at - since) }]
          : [];
      return { state: { ...next, configErrorSince: since }, actions };
    }
  }
  if (!f) return { state: { ...next, configErrorSince: undefined }, actions: [] };
  return fail(next, { code: f.code, reason: f.reason, message: `pod ${state.name}: ${f.message}` });
}

function fail(state: LifecycleState, failure: LifecycleFailure): Transition {
  return { state: { ...state, stage: 'failed', failure }, actions: [{ type: 'fail', failure }] };
}
