import type { V1Container, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type ResolvedCacheConfig, resolveCacheConfig } from '../../src/config/options.js';
import { memcached, redis } from '../../src/engines/registry.js';
import { supervise } from '../../src/engines/supervisor.js';
import type { EngineDefinition } from '../../src/engines/types.js';
import { buildCachePod, type CachePodInput, podConfigHash } from '../../src/kube/pod-spec.js';
import {
  ANNOTATION_HOST,
  ANNOTATION_LEASE,
  ANNOTATION_PID,
  LABEL_CONFIG_HASH,
  LABEL_ENGINE,
  LABEL_MANAGED_BY,
  LABEL_RUN,
  LABEL_WORKER,
  runSelector,
} from '../../src/names.js';

function config(engine: 'redis' | 'memcached', overrides: Partial<ResolvedCacheConfig> = {}) {
  return { ...resolveCacheConfig(engine, { env: {} }), ...overrides };
}

function input(overrides: Partial<CachePodInput> = {}): CachePodInput {
  return {
    engine: redis,
    config: config('redis'),
    namespace: 'cache-tests',
    runId: 'k3x9a0b2c1',
    worker: '2',
    leaseExpiresAt: new Date('2030-01-02T03:04:05.000Z'),
    host: 'ci-runner-7',
    pid: 4242,
    activeDeadlineSeconds: 3600,
    ...overrides,
  };
}

const specOf = (pod: V1Pod) => pod.spec as V1PodSpec;
const containerOf = (pod: V1Pod) => specOf(pod).containers[0] as V1Container;

describe('buildCachePod', () => {
  it('is a v1 Pod in the requested namespace named by podName()', () => {
    const pod = buildCachePod(input());
    expect(pod.apiVersion).toBe('v1');
    expect(pod.kind).toBe('Pod');
    expect(pod.metadata?.namespace).toBe('cache-tests');
    expect(pod.metadata?.name).toMatch(/^kc-redis-2-k3x9a0b2c1-[0-9a-f]{8}$/);
  });

  it('labels the pod for run/worker/engine/config selection', () => {
    const pod = buildCachePod(input());
    const labels = pod.metadata?.labels ?? {};
    expect(labels[LABEL_MANAGED_BY]).toBe('kubecache');
    expect(labels[LABEL_RUN]).toBe('k3x9a0b2c1');
    expect(labels[LABEL_WORKER]).toBe('2');
    expect(labels[LABEL_ENGINE]).toBe('redis');
    expect(labels[LABEL_CONFIG_HASH]).toMatch(/^[0-9a-f]{10}$/);
    expect(labels[LABEL_CONFIG_HASH]).toBe(podConfigHash(input()));
    // The run selector must match the labels actually written.
    for (const pair of runSelector('k3x9a0b2c1').split(',')) {
      const [k, v] = pair.split('=') as [string, string];
      expect(labels[k]).toBe(v);
    }
  });

  it('sanitises a worker id that is not a valid label value', () => {
    const pod = buildCachePod(input({ worker: 'pool worker/3' }));
    expect(pod.metadata?.labels?.[LABEL_WORKER]).toBe('pool-worker-3');
  });

  it('adds configured labels and annotations without letting them override its own', () => {
    const hostile = config('redis', {
      labels: {
        team: 'payments',
        [LABEL_MANAGED_BY]: 'someone-else',
        [LABEL_RUN]: 'other-run',
        [LABEL_ENGINE]: 'memcached',
      },
      annotations: { 'example.com/owner': 'qa', [ANNOTATION_LEASE]: '1999-01-01T00:00:00Z' },
    });
    const pod = buildCachePod(input({ config: hostile }));
    expect(pod.metadata?.labels).toMatchObject({
      team: 'payments',
      [LABEL_MANAGED_BY]: 'kubecache',
      [LABEL_RUN]: 'k3x9a0b2c1',
      [LABEL_ENGINE]: 'redis',
    });
    expect(pod.metadata?.annotations).toMatchObject({
      'example.com/owner': 'qa',
      [ANNOTATION_LEASE]: '2030-01-02T03:04:05.000Z',
    });
  });

  it('annotates lease expiry (RFC 3339), host and pid', () => {
    const annotations = buildCachePod(input()).metadata?.annotations ?? {};
    expect(annotations[ANNOTATION_LEASE]).toBe('2030-01-02T03:04:05.000Z');
    expect(annotations[ANNOTATION_HOST]).toBe('ci-runner-7');
    expect(annotations[ANNOTATION_PID]).toBe('4242');
  });

  it('sets the pod-level lifecycle and hardening fields', () => {
    const spec = specOf(buildCachePod(input({ activeDeadlineSeconds: 900 })));
    expect(spec.restartPolicy).toBe('Never');
    expect(spec.activeDeadlineSeconds).toBe(900);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
    expect(spec.dnsPolicy).toBe('Default');
    expect(spec.terminationGracePeriodSeconds).toBe(1);
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 999,
      runAsGroup: 999,
      fsGroup: 999,
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('leaves the UID to the platform, or runs a given UID in group 0', () => {
    const platform = specOf(buildCachePod(input({ config: config('redis', { uid: 'platform' }) })));
    expect(platform.securityContext).toEqual({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const high = specOf(buildCachePod(input({ config: config('redis', { uid: 1000680000 }) })));
    expect(high.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000680000,
      runAsGroup: 0,
      fsGroup: 0,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    // The user shapes the pod: caches with different users never share a hash.
    const hashes = new Set(
      [undefined, 'platform' as const, 1000680000].map((uid) =>
        podConfigHash(input({ config: config('redis', uid === undefined ? {} : { uid }) })),
      ),
    );
    expect(hashes.size).toBe(3);
  });

  it('hardens the container and has no readiness probe', () => {
    const container = containerOf(buildCachePod(input()));
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: false,
      runAsNonRoot: true,
    });
    expect(container.readinessProbe).toBeUndefined();
    expect(container.livenessProbe).toBeUndefined();
  });

  it('runs redis from /data on an emptyDir with the engine command and port', () => {
    const cfg = config('redis', { args: ['--maxmemory', '64mb'] });
    const pod = buildCachePod(input({ config: cfg }));
    const container = containerOf(pod);
    expect(container.name).toBe('redis');
    expect(container.image).toBe('redis:7-alpine');
    expect(container.command?.slice(0, 2)).toEqual(['sh', '-c']);
    expect(container.command?.[3]).toBe('kubecache-supervise');
    expect(container.command?.slice(4)).toEqual([
      'redis-server',
      '--port',
      '6379',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--repl-diskless-sync-delay',
      '0',
      '--maxmemory',
      '64mb',
    ]);
    expect(container.workingDir).toBe('/data');
    expect(container.volumeMounts).toEqual([{ name: 'data', mountPath: '/data' }]);
    expect(specOf(pod).volumes).toEqual([{ name: 'data', emptyDir: {} }]);
    expect(container.ports).toEqual([{ name: 'redis', containerPort: 6379, protocol: 'TCP' }]);
  });

  it('runs memcached without a data volume', () => {
    const pod = buildCachePod(input({ engine: memcached, config: config('memcached') }));
    const container = containerOf(pod);
    expect(container.name).toBe('memcached');
    expect(container.image).toBe('memcached:1.6-alpine');
    expect(container.command).toEqual(supervise(['memcached', '-p', '11211', '-U', '0']));
    expect(container.ports?.[0]?.containerPort).toBe(11211);
    expect(container.workingDir).toBeUndefined();
    expect(container.volumeMounts).toBeUndefined();
    expect(specOf(pod).volumes).toBeUndefined();
    expect(pod.metadata?.labels?.[LABEL_ENGINE]).toBe('memcached');
  });

  it('copies resources from the config', () => {
    const cfg = config('redis', {
      resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '1', memory: '1Gi' } },
    });
    expect(containerOf(buildCachePod(input({ config: cfg }))).resources).toEqual({
      requests: { cpu: '10m', memory: '16Mi' },
      limits: { cpu: '1', memory: '1Gi' },
    });
  });

  it('applies nodeSelector, tolerations and imagePullSecrets only when configured', () => {
    const plain = specOf(buildCachePod(input()));
    expect(plain.nodeSelector).toBeUndefined();
    expect(plain.tolerations).toBeUndefined();
    expect(plain.imagePullSecrets).toBeUndefined();

    const cfg = config('redis', {
      nodeSelector: { 'kubernetes.io/arch': 'amd64' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ci', effect: 'NoSchedule' }],
      imagePullSecrets: ['regcred', 'mirror'],
    });
    const spec = specOf(buildCachePod(input({ config: cfg })));
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64' });
    expect(spec.tolerations).toEqual([
      { key: 'dedicated', operator: 'Equal', value: 'ci', effect: 'NoSchedule' },
    ]);
    expect(spec.imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror' }]);
  });

  it('adds a non-controlling owner reference only when an owner is given', () => {
    expect(buildCachePod(input()).metadata?.ownerReferences).toBeUndefined();
    const pod = buildCachePod(
      input({ owner: { apiVersion: 'v1', kind: 'Pod', name: 'ci-job-abc', uid: 'uid-123' } }),
    );
    expect(pod.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        name: 'ci-job-abc',
        uid: 'uid-123',
        controller: false,
        blockOwnerDeletion: false,
      },
    ]);
  });

  it('is deterministic and does not share mutable state with its input', () => {
    const cfg = config('redis', { nodeSelector: { zone: 'a' }, args: ['--x'] });
    const first = buildCachePod(input({ config: cfg }));
    const second = buildCachePod(input({ config: cfg }));
    expect(second).toEqual(first);
    specOf(first).nodeSelector = {};
    containerOf(first).command?.push('--mutated');
    expect(cfg.nodeSelector).toEqual({ zone: 'a' });
    expect(cfg.args).toEqual(['--x']);
    expect(buildCachePod(input({ config: cfg }))).toEqual(second);
  });

  it('names pods apart when worker, run or config differ', () => {
    const names = new Set([
      buildCachePod(input()).metadata?.name,
      buildCachePod(input({ worker: '3' })).metadata?.name,
      buildCachePod(input({ runId: 'zzzzzzzzzz' })).metadata?.name,
      buildCachePod(input({ config: config('redis', { image: 'valkey/valkey:8-alpine' }) }))
        .metadata?.name,
    ]);
    expect(names.size).toBe(4);
  });

  it('ignores timeouts and endpoint mode in the config hash, but not the image', () => {
    const base = podConfigHash(input());
    const timeouts = { ...config('redis').timeouts, probeMs: 1 };
    expect(
      podConfigHash(input({ config: config('redis', { timeouts, endpoint: 'pod-ip' }) })),
    ).toBe(base);
    expect(podConfigHash(input({ config: config('redis', { image: 'redis:6' }) }))).not.toBe(base);
  });

  it('honours the seeding hooks', () => {
    const pod = buildCachePod(
      input({
        commandOverride: ['sh', '-c', 'load && exec redis-server'],
        extraEnv: [{ name: 'SEED', value: '1' }],
      }),
    );
    const container = containerOf(pod);
    expect(container.command).toEqual(['sh', '-c', 'load && exec redis-server']);
    expect(container.env).toEqual([{ name: 'SEED', value: '1' }]);
    expect(pod.metadata?.labels?.[LABEL_CONFIG_HASH]).not.toBe(podConfigHash(input()));
  });

  it('rejects an invalid lease date instead of writing a bad annotation', () => {
    expect(() => buildCachePod(input({ leaseExpiresAt: new Date('nope') }))).toThrow(
      /leaseExpiresAt/,
    );
  });

  it('works for any engine definition', () => {
    const custom: EngineDefinition = { ...memcached, containerName: 'cache', port: 12000 };
    const container = containerOf(
      buildCachePod(input({ engine: custom, config: config('memcached') })),
    );
    expect(container.name).toBe('cache');
    expect(container.ports?.[0]?.containerPort).toBe(12000);
  });
});
