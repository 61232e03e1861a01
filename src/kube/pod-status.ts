import { engineEnvPrefix } from '../config/env.js';
import type { EngineName } from '../engines/types.js';
import type { ErrorCode } from '../errors.js';
import type { V1Pod } from './client-node.js';

/** Container waiting reasons that will not fix themselves within a test run. */
const IMAGE_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'RegistryUnavailable',
]);
const CRASH_REASONS = new Set([
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'StartError',
]);

export interface PodFailure {
  code: Extract<ErrorCode, 'IMAGE_PULL' | 'CRASHED' | 'UNSCHEDULABLE'>;
  reason: string;
  message: string;
}

/**
 * Decides from one pod object whether it can still become ready. Pure, so the
 * watch loop stays thin and every rule is unit-tested.
 */
export function podFailure(pod: V1Pod): PodFailure | null {
  const status = pod.status;
  if (!status) return null;
  for (const c of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && IMAGE_REASONS.has(waiting.reason)) {
      return {
        code: 'IMAGE_PULL',
        reason: waiting.reason,
        message: `container ${c.name}: image ${c.image} cannot be pulled (${waiting.reason}: ${waiting.message ?? 'no message'})`,
      };
    }
    if (waiting?.reason && CRASH_REASONS.has(waiting.reason)) {
      return {
        code: 'CRASHED',
        reason: waiting.reason,
        message: `container ${c.name} cannot run (${waiting.reason}: ${waiting.message ?? 'no message'})`,
      };
    }
    const term = c.state?.terminated;
    // A finished init container is normal; a finished cache container is not.
    const isInit = status.initContainerStatuses?.includes(c) ?? false;
    if (term && (!isInit || term.exitCode !== 0)) {
      return {
        code: 'CRASHED',
        reason: term.reason ?? 'Terminated',
        message: `container ${c.name} exited with code ${term.exitCode}${term.signal ? ` (signal ${term.signal})` : ''}${term.reason ? `: ${term.reason}` : ''}${term.message ? ` ${term.message}` : ''}`,
      };
    }
  }
  const sched = status.conditions?.find((c) => c.type === 'PodScheduled');
  if (sched?.status === 'False' && sched.reason === 'Unschedulable') {
    return {
      code: 'UNSCHEDULABLE',
      reason: 'Unschedulable',
      message: `no node can run the pod: ${sched.message ?? 'no message'}. Check nodeSelector, tolerations and resource requests.`,
    };
  }
  if (status.phase === 'Failed' || status.phase === 'Succeeded') {
    return {
      code: 'CRASHED',
      reason: status.reason ?? status.phase,
      message: `pod ended in phase ${status.phase}${status.reason ? ` (${status.reason}: ${status.message ?? ''})` : ''}`,
    };
  }
  return null;
}

/**
 * What to do about a pod that failed to start, for the end of its error,
 * after the events and log lines it refers to; undefined where the message
 * itself already says it (UNSCHEDULABLE) or there is nothing general to say.
 */
export function failureNextStep(code: ErrorCode, engine: EngineName): string | undefined {
  if (code === 'IMAGE_PULL') {
    return (
      'check the image name and tag (the image option, or ' +
      `${engineEnvPrefix(engine)}IMAGE / KUBECACHE_IMAGE), that the nodes can reach its registry (the events above say what the pull got), ` +
      'and for a private registry set imagePullSecrets. `npx kubecache doctor` pulls the configured images the same way.'
    );
  }
  if (code === 'CRASHED') {
    return (
      'the last log lines above say why the server stopped: fix the args or image in the kubecache options. ' +
      'The image needs sh, kill and sleep next to the server, which the alpine-based images have.'
    );
  }
  return undefined;
}

export interface PodProgress {
  scheduled: boolean;
  podIP: string | undefined;
  running: boolean;
}

export function podProgress(pod: V1Pod): PodProgress {
  const status = pod.status;
  return {
    scheduled:
      Boolean(pod.spec?.nodeName) ||
      status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True') === true,
    podIP: status?.podIP || undefined,
    running:
      status?.phase === 'Running' &&
      (status.containerStatuses ?? []).every((c) => c.state?.running !== undefined),
  };
}
