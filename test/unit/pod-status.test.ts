import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { podIPFromHosts } from '../../src/kube/hosts-file.js';
import { failureNextStep, podFailure, podProgress } from '../../src/kube/pod-status.js';
import { eventsInOrder } from '../../src/kube/pods.js';
import { leaseExpired } from '../../src/kube/reaper.js';
import { ServerClock } from '../../src/kube/server-clock.js';
import { ANNOTATION_LEASE } from '../../src/names.js';

function pod(status: V1Pod['status'], spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return { metadata: { name: 'p' }, spec: { containers: [], ...spec }, status };
}

const waiting = (reason: string, message = 'm') => ({
  name: 'redis',
  image: 'img:1',
  imageID: '',
  ready: false,
  restartCount: 0,
  state: { waiting: { reason, message } },
});

describe('eventsInOrder', () => {
  // A pod whose image cannot be pulled, as the API lists its events (by name,
  // which ends in the creation time): the scheduler's eventTime has
  // microseconds, the kubelet's timestamps whole seconds.
  const at = (iso: string) => new Date(iso);
  const kubelet = (reason: string, last: string): CoreV1Event =>
    ({ reason, lastTimestamp: at(last), involvedObject: {}, metadata: {} }) as CoreV1Event;
  const listed: CoreV1Event[] = [
    {
      reason: 'Scheduled',
      eventTime: at('2026-12-03T02:10:29.209931Z'),
      involvedObject: {},
      metadata: {},
    } as unknown as CoreV1Event,
    kubelet('Pulling', '2026-12-03T02:10:29Z'),
    kubelet('Failed', '2026-12-03T02:10:29Z'),
    // Repeated: its last occurrence is the newest event.
    kubelet('BackOff', '2026-12-03T02:10:41Z'),
    kubelet('FailedMount', '2026-12-03T02:10:30Z'),
  ];

  it('keeps Scheduled first within its second, and a repeated event at its last time', () => {
    expect(eventsInOrder(listed).map((e) => e.reason)).toEqual([
      'Scheduled',
      'Pulling',
      'Failed',
      'FailedMount',
      'BackOff',
    ]);
  });
});

describe('failureNextStep', () => {
  it("names the engine's image variable and the pull secrets for an image that cannot be pulled", () => {
    const next = failureNextStep('IMAGE_PULL', 'valkey');
    expect(next).toContain('check the image name and tag');
    expect(next).toContain('KUBECACHE_VALKEY_IMAGE');
    expect(next).toContain('imagePullSecrets');
    expect(next).toContain('npx kubecache doctor');
  });

  it('points a crash at the log lines, and leaves messages that say it already alone', () => {
    expect(failureNextStep('CRASHED', 'redis')).toContain('the last log lines above say why');
    expect(failureNextStep('UNSCHEDULABLE', 'redis')).toBeUndefined();
  });
});

describe('podFailure', () => {
  it.each(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull'])(
    '%s is IMAGE_PULL and names the image',
    (reason) => {
      const f = podFailure(pod({ containerStatuses: [waiting(reason)] }));
      expect(f?.code).toBe('IMAGE_PULL');
      expect(f?.message).toContain('img:1');
      expect(f?.reason).toBe(reason);
    },
  );

  it.each(['CrashLoopBackOff', 'CreateContainerConfigError', 'RunContainerError'])(
    '%s is CRASHED',
    (reason) => {
      expect(podFailure(pod({ containerStatuses: [waiting(reason)] }))?.code).toBe('CRASHED');
    },
  );

  it('ContainerCreating is not a failure', () => {
    expect(podFailure(pod({ containerStatuses: [waiting('ContainerCreating')] }))).toBeNull();
  });

  it('a terminated cache container is CRASHED with its exit code', () => {
    const f = podFailure(
      pod({
        containerStatuses: [
          {
            name: 'redis',
            image: 'i',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 1, reason: 'Error' } },
          },
        ],
      }),
    );
    expect(f?.code).toBe('CRASHED');
    expect(f?.message).toContain('exited with code 1');
  });

  it('a successfully finished init container is fine, a failed one is not', () => {
    const init = (exitCode: number) => ({
      name: 'seed',
      image: 'i',
      imageID: '',
      ready: false,
      restartCount: 0,
      state: { terminated: { exitCode } },
    });
    expect(podFailure(pod({ initContainerStatuses: [init(0)] }))).toBeNull();
    expect(podFailure(pod({ initContainerStatuses: [init(2)] }))?.code).toBe('CRASHED');
  });

  it('Unschedulable is UNSCHEDULABLE and points at scheduling options', () => {
    const f = podFailure(
      pod({
        conditions: [
          { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes' },
        ],
      }),
    );
    expect(f?.code).toBe('UNSCHEDULABLE');
    expect(f?.message).toContain('0/1 nodes');
    expect(f?.message).toContain('nodeSelector');
  });

  it('a pod in phase Failed (e.g. activeDeadlineSeconds) is CRASHED', () => {
    expect(
      podFailure(pod({ phase: 'Failed', reason: 'DeadlineExceeded', message: 'x' }))?.code,
    ).toBe('CRASHED');
  });
});

describe('podProgress', () => {
  it('reports scheduling, IP and running', () => {
    expect(podProgress(pod({ phase: 'Pending' }))).toEqual({
      scheduled: false,
      podIP: undefined,
      running: false,
    });
    const running = podProgress(
      pod(
        {
          phase: 'Running',
          podIP: '10.244.0.9',
          containerStatuses: [
            {
              name: 'r',
              image: 'i',
              imageID: '',
              ready: true,
              restartCount: 0,
              state: { running: {} },
            },
          ],
        },
        { nodeName: 'n' },
      ),
    );
    expect(running).toEqual({ scheduled: true, podIP: '10.244.0.9', running: true });
  });
});

describe('podIPFromHosts', () => {
  const hosts = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    '10.244.0.17\tkc-redis-1-abc',
    '',
  ].join('\n');

  it('finds the line of the pod hostname', () => {
    expect(podIPFromHosts(hosts, 'kc-redis-1-abc')).toBe('10.244.0.17');
  });

  it('returns undefined for another name or a commented line', () => {
    expect(podIPFromHosts(hosts, 'other')).toBeUndefined();
    expect(podIPFromHosts('#10.0.0.1 kc-x\n', 'kc-x')).toBeUndefined();
  });
});

describe('leaseExpired', () => {
  const now = new Date('2026-01-01T00:00:10Z');
  it('compares the lease annotation with now', () => {
    const meta = (iso: string) => ({ annotations: { [ANNOTATION_LEASE]: iso } });
    expect(leaseExpired(meta('2026-01-01T00:00:07Z'), now, 60_000)).toBe(true);
    expect(leaseExpired(meta('2026-01-01T00:00:11Z'), now, 60_000)).toBe(false);
    // Within the clock margin: not yet.
    expect(leaseExpired(meta('2026-01-01T00:00:09Z'), now, 60_000)).toBe(false);
  });

  it('judges by the API server clock, so runners with skewed clocks agree', () => {
    // The API server's real time, and two runners: A 5 min ahead, B 7 min behind.
    const server = Date.parse('2026-01-01T12:00:00Z');
    const a = new ServerClock();
    const b = new ServerClock();
    const aLocal = server + 300_000;
    const bLocal = server - 420_000;
    // Both saw an API answer stamped with the server's time (50 ms round trip).
    a.observe(new Date(server).toUTCString(), aLocal - 25, aLocal + 25);
    b.observe(new Date(server).toUTCString(), bLocal - 25, bLocal + 25);
    expect(Math.abs(a.now(aLocal) - server)).toBeLessThanOrEqual(1_000);
    expect(Math.abs(b.now(bLocal) - server)).toBeLessThanOrEqual(1_000);
    // A writes a 60 s lease in server time; 50 s later (A still renewing) B judges it.
    const lease = new Date(a.now(aLocal) + 60_000).toISOString();
    const meta = { annotations: { [ANNOTATION_LEASE]: lease } };
    expect(leaseExpired(meta, new Date(b.now(bLocal + 50_000)), 60_000)).toBe(false);
    // Once A stopped renewing, B reaps it soon after it ended in server time.
    expect(leaseExpired(meta, new Date(b.now(bLocal + 64_000)), 60_000)).toBe(true);
  });

  it('treats a missing lease by age, so a pod being created now is spared', () => {
    const created = (iso: string) => ({ creationTimestamp: new Date(iso) });
    expect(leaseExpired(created('2026-01-01T00:00:05Z'), now, 60_000)).toBe(false);
    expect(leaseExpired(created('2025-12-31T23:00:00Z'), now, 60_000)).toBe(true);
  });
});
