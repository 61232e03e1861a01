import { describe, expect, it } from 'vitest';
import { timeoutEnvName } from '../../src/config/env.js';
import {
  type CacheOptions,
  DEFAULT_TIMEOUTS,
  type KubecacheOptions,
  resolveCacheConfig,
  resolveClusterConfig,
  validateCacheOptions,
  validateKubecacheOptions,
} from '../../src/config/options.js';
import { isQuantity, quantityValue } from '../../src/config/validate.js';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';

function badOption(fn: () => unknown, ...fragments: string[]): KubecacheError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isKubecacheError(caught, 'BAD_OPTION'), `expected BAD_OPTION, got ${String(caught)}`).toBe(
    true,
  );
  const err = caught as KubecacheError;
  for (const fragment of fragments) expect(err.message).toContain(fragment);
  return err;
}

const redisWith = (input: Parameters<typeof resolveCacheConfig>[1]) =>
  resolveCacheConfig('redis', { env: {}, ...input });

describe('defaults', () => {
  it('fully defaults a redis config', () => {
    expect(resolveCacheConfig('redis', { env: {} })).toEqual({
      engine: 'redis',
      image: 'redis:7-alpine',
      args: [],
      resources: {
        requests: { cpu: '50m', memory: '32Mi' },
        limits: { cpu: '500m', memory: '256Mi' },
      },
      nodeSelector: {},
      tolerations: [],
      annotations: {},
      labels: {},
      imagePullSecrets: [],
      endpoint: 'auto',
      timeouts: {
        podRunningMs: 60000,
        probeMs: 15000,
        probeAttemptMs: 500,
        reachabilityProbeMs: 400,
        deleteMs: 30000,
        execMs: 30000,
        apiConnectMs: 5000,
        leaseMs: 60000,
        leaseRenewMs: 15000,
        apiCallMs: 10000,
        apiRetryMs: 30000,
      },
      auth: true,
      acl: 'app',
      tls: false,
      networkPolicy: false,
    });
  });

  it('uses the memcached image for memcached', () => {
    expect(resolveCacheConfig('memcached', { env: {} }).image).toBe('memcached:1.6-alpine');
  });

  it('returns fresh objects every time', () => {
    const a = resolveCacheConfig('redis', { env: {} });
    a.nodeSelector.x = 'y';
    a.resources.limits.cpu = '9';
    a.timeouts.probeMs = 1;
    const b = resolveCacheConfig('redis', { env: {} });
    expect(b.nodeSelector).toEqual({});
    expect(b.resources.limits.cpu).toBe('500m');
    expect(b.timeouts.probeMs).toBe(15000);
    expect(DEFAULT_TIMEOUTS.probeMs).toBe(15000);
  });

  it('reads process.env when no env is given', () => {
    process.env.KUBECACHE_REDIS_IMAGE = 'from-process-env:1';
    try {
      expect(resolveCacheConfig('redis').image).toBe('from-process-env:1');
    } finally {
      delete process.env.KUBECACHE_REDIS_IMAGE;
    }
  });
});

describe('precedence', () => {
  // Each step adds one layer above the previous ones; the newest must win.
  const steps: Array<{
    layer: string;
    apply: (i: { global: KubecacheOptions; call: CacheOptions; env: NodeJS.ProcessEnv }) => void;
    image: string;
  }> = [
    { layer: 'defaults', apply: () => {}, image: 'redis:7-alpine' },
    {
      layer: 'global options',
      apply: (i) => {
        i.global.image = 'img:global-option';
      },
      image: 'img:global-option',
    },
    {
      layer: 'per-engine options (engines.redis)',
      apply: (i) => {
        i.global.engines = { redis: { image: 'img:engine-option' } };
      },
      image: 'img:engine-option',
    },
    {
      layer: 'global env',
      apply: (i) => {
        i.env.KUBECACHE_IMAGE = 'img:global-env';
      },
      image: 'img:global-env',
    },
    {
      layer: 'per-engine env',
      apply: (i) => {
        i.env.KUBECACHE_REDIS_IMAGE = 'img:engine-env';
      },
      image: 'img:engine-env',
    },
    {
      layer: 'per-call options',
      apply: (i) => {
        i.call.image = 'img:call';
      },
      image: 'img:call',
    },
  ];

  it.each(steps.map((s, index) => [s.layer, index] as const))(
    '%s beats every lower layer',
    (_, index) => {
      const i = { global: {}, call: {}, env: {} };
      for (const step of steps.slice(0, index + 1)) step.apply(i);
      expect(resolveCacheConfig('redis', i).image).toBe(steps[index]?.image);
    },
  );

  it('applies the same order to endpoint and timeouts', () => {
    const env = { KUBECACHE_ENDPOINT: 'pod-ip', KUBECACHE_REDIS_TIMEOUT_PROBE_MS: '2000' };
    const global: KubecacheOptions = { endpoint: 'port-forward', timeouts: { probeMs: 1000 } };
    const resolved = resolveCacheConfig('redis', { env, global });
    expect(resolved.endpoint).toBe('pod-ip');
    expect(resolved.timeouts.probeMs).toBe(2000);
    const called = resolveCacheConfig('redis', {
      env,
      global,
      call: { endpoint: 'port-forward', timeouts: { probeMs: 3000 } },
    });
    expect(called.endpoint).toBe('port-forward');
    expect(called.timeouts.probeMs).toBe(3000);
  });

  it('keeps per-engine env and options to their own engine', () => {
    const env = { KUBECACHE_MEMCACHED_IMAGE: 'mc:custom', KUBECACHE_MEMCACHED_ARGS: '-m 64' };
    const global: KubecacheOptions = { engines: { memcached: { endpoint: 'pod-ip' } } };
    const redis = resolveCacheConfig('redis', { env, global });
    expect(redis.image).toBe('redis:7-alpine');
    expect(redis.args).toEqual([]);
    expect(redis.endpoint).toBe('auto');
    const mc = resolveCacheConfig('memcached', { env, global });
    expect(mc.image).toBe('mc:custom');
    expect(mc.args).toEqual(['-m', '64']);
    expect(mc.endpoint).toBe('pod-ip');
  });

  it('treats empty environment variables as unset', () => {
    expect(redisWith({ env: { KUBECACHE_IMAGE: '', KUBECACHE_REDIS_IMAGE: '  ' } }).image).toBe(
      'redis:7-alpine',
    );
  });

  it('does not mutate the caller’s options', () => {
    const global: KubecacheOptions = { nodeSelector: { a: '1' }, args: ['--x'] };
    const snapshot = structuredClone(global);
    const resolved = redisWith({ global, call: { nodeSelector: { b: '2' } } });
    resolved.args.push('--y');
    expect(global).toEqual(snapshot);
  });
});

describe('merging', () => {
  it('merges maps per key with the higher layer winning', () => {
    const resolved = resolveCacheConfig('redis', {
      global: {
        nodeSelector: { a: 'global', b: 'global' },
        labels: { team: 'x' },
        engines: { redis: { nodeSelector: { d: 'engine-option' } } },
      },
      env: {
        KUBECACHE_NODE_SELECTOR: 'b=env,c=env',
        KUBECACHE_REDIS_NODE_SELECTOR: 'c=redis-env',
        KUBECACHE_LABELS: 'suite=unit',
        KUBECACHE_ANNOTATIONS: 'example.com/note=a=b',
      },
      call: { nodeSelector: { e: 'call' }, annotations: { other: 'y' } },
    });
    expect(resolved.nodeSelector).toEqual({
      a: 'global',
      b: 'env',
      c: 'redis-env',
      d: 'engine-option',
      e: 'call',
    });
    expect(resolved.labels).toEqual({ team: 'x', suite: 'unit' });
    // Only the first "=" separates key from value.
    expect(resolved.annotations).toEqual({ 'example.com/note': 'a=b', other: 'y' });
  });

  it('replaces arrays instead of concatenating them', () => {
    const resolved = resolveCacheConfig('redis', {
      global: {
        tolerations: [
          { key: 'a', operator: 'Exists' },
          { key: 'b', operator: 'Exists' },
        ],
        imagePullSecrets: ['one', 'two'],
        args: ['--global'],
      },
      env: {
        KUBECACHE_TOLERATIONS: '[{"key":"c","operator":"Equal","value":"v","effect":"NoSchedule"}]',
        KUBECACHE_IMAGE_PULL_SECRETS: 'three, four',
        KUBECACHE_REDIS_ARGS: '  --maxmemory   64mb  ',
      },
    });
    expect(resolved.tolerations).toEqual([
      { key: 'c', operator: 'Equal', value: 'v', effect: 'NoSchedule' },
    ]);
    expect(resolved.imagePullSecrets).toEqual(['three', 'four']);
    expect(resolved.args).toEqual(['--maxmemory', '64mb']);
    expect(redisWith({ global: { args: ['--a'] }, call: { args: ['--b'] } }).args).toEqual(['--b']);
  });

  it('sets resources per quantity from env and options', () => {
    const resolved = resolveCacheConfig('redis', {
      env: {
        KUBECACHE_CPU_REQUEST: '100m',
        KUBECACHE_REDIS_MEMORY_LIMIT: '1Gi',
        KUBECACHE_MEMORY_REQUEST: '64Mi',
      },
      call: { resources: { limits: { cpu: '2' } } },
    });
    expect(resolved.resources).toEqual({
      requests: { cpu: '100m', memory: '64Mi' },
      limits: { cpu: '2', memory: '1Gi' },
    });
  });

  it('reads every timeout from KUBECACHE_TIMEOUT_<NAME>_MS', () => {
    const env: NodeJS.ProcessEnv = {};
    let n = 1000;
    const expected: Record<string, number> = {};
    for (const key of Object.keys(DEFAULT_TIMEOUTS) as (keyof typeof DEFAULT_TIMEOUTS)[]) {
      env[`KUBECACHE_TIMEOUT_${timeoutEnvName(key)}_MS`] = String(n);
      expected[key] = n;
      n += 1000;
    }
    expect(env.KUBECACHE_TIMEOUT_POD_RUNNING_MS).toBeDefined();
    expect(env.KUBECACHE_TIMEOUT_REACHABILITY_PROBE_MS).toBeDefined();
    expect(env.KUBECACHE_TIMEOUT_LEASE_RENEW_MS).toBeDefined();
    // leaseRenewMs sorts after leaseMs in the defaults, so it gets the larger number.
    env.KUBECACHE_TIMEOUT_LEASE_RENEW_MS = '500';
    expected.leaseRenewMs = 500;
    expect(redisWith({ env }).timeouts).toEqual(expected);
  });
});

describe('validation errors', () => {
  it('names the option path, the bad value and the accepted values', () => {
    const err = badOption(
      () => redisWith({ global: { engines: { redis: { endpoint: 'nope' as never } } } }),
      'engines.redis.endpoint',
      '"nope"',
      '"auto", "pod-ip", "port-forward"',
    );
    expect(err.details.field).toBe('engines.redis.endpoint');
  });

  it('names the environment variable for env values', () => {
    const err = badOption(
      () => redisWith({ env: { KUBECACHE_ENDPOINT: 'tunnel' } }),
      'KUBECACHE_ENDPOINT',
      '"tunnel"',
      '"port-forward"',
    );
    expect(err.details.field).toBe('KUBECACHE_ENDPOINT');
    badOption(
      () => redisWith({ env: { KUBECACHE_REDIS_ENDPOINT: 'x' } }),
      'KUBECACHE_REDIS_ENDPOINT',
    );
  });

  it.each([
    [{ imgae: 'redis' }, 'imgae', 'Did you mean "image"?'],
    [{ nodeselector: {} }, 'nodeselector', 'Did you mean "nodeSelector"?'],
    [{ timeouts: { probMs: 1 } }, 'timeouts.probMs', 'Did you mean "probeMs"?'],
    [{ resources: { limit: {} } }, 'resources.limit', 'Did you mean "limits"?'],
    [{ engines: { reddis: {} } }, 'engines.reddis', 'Did you mean "redis"?'],
    [{ engines: { redis: { iamge: 'x' } } }, 'engines.redis.iamge', 'Did you mean "image"?'],
    [{ zzzzzzzz: 1 }, 'zzzzzzzz', 'Known keys here:'],
  ])('rejects unknown key %j with a suggestion', (global, path, hint) => {
    const err = badOption(() => validateKubecacheOptions(global), `option ${path}`, hint);
    expect(err.details.field).toBe(path);
  });

  it('explains that cluster-wide keys cannot be set per call or per engine', () => {
    badOption(() => validateCacheOptions({ namespace: 'x' }), 'namespace', 'top-level');
    badOption(
      () => validateKubecacheOptions({ engines: { redis: { context: 'kind' } } }),
      'engines.redis.context',
      'top-level',
    );
  });

  it.each([0, -5, 1.5, Number.NaN, 2 ** 31])('rejects timeout %s', (value) => {
    badOption(
      () => redisWith({ call: { timeouts: { probeMs: value } } }),
      'timeouts.probeMs',
      'positive whole number of milliseconds',
    );
  });

  it('rejects non-numeric timeout env values and typos in timeout env names', () => {
    badOption(
      () => redisWith({ env: { KUBECACHE_TIMEOUT_DELETE_MS: '10s' } }),
      'KUBECACHE_TIMEOUT_DELETE_MS',
      '"10s"',
    );
    const err = badOption(
      () => redisWith({ env: { KUBECACHE_TIMEOUT_PODRUNNING_MS: '1000' } }),
      'KUBECACHE_TIMEOUT_PODRUNNING_MS',
      'Did you mean KUBECACHE_TIMEOUT_POD_RUNNING_MS?',
    );
    expect(err.details.field).toBe('KUBECACHE_TIMEOUT_PODRUNNING_MS');
  });

  it('rejects a lease renew interval that is not shorter than the lease', () => {
    badOption(
      () => redisWith({ env: { KUBECACHE_TIMEOUT_LEASE_RENEW_MS: '60000' } }),
      'leaseRenewMs',
      'KUBECACHE_TIMEOUT_LEASE_RENEW_MS',
      'must be below timeouts.leaseMs',
    );
  });

  it.each(['100m', '0.5', '1', '2', '64Mi', '1Gi', '500M', '1e3', '.5'])(
    'accepts quantity %s',
    (q) => {
      expect(isQuantity(q)).toBe(true);
    },
  );

  it.each(['100 m', '-1', 'lots', '1.2.3', 'Mi', '64MB', ''])('rejects quantity %j', (q) => {
    badOption(
      () => redisWith({ call: { resources: { requests: { memory: q } } } }),
      'resources.requests.memory',
      'Kubernetes quantity',
      '"64Mi"',
    );
  });

  it('rejects a memory size without its unit, with the unit it probably meant', () => {
    // A bare number is bytes to Kubernetes: this failed as "request 32Mi is above the limit 256".
    badOption(
      () => redisWith({ call: { resources: { limits: { memory: 256 as unknown as string } } } }),
      'resources.limits.memory',
      '256 without a unit is 256 bytes',
      'Did you mean "256Mi"?',
    );
    badOption(
      () => redisWith({ env: { KUBECACHE_MEMORY_LIMIT: '500k' } }),
      'KUBECACHE_MEMORY_LIMIT',
      '500k is less than 1Mi',
    );
    expect(() => redisWith({ call: { resources: { requests: { memory: '1Mi' } } } })).not.toThrow();
  });

  it('rejects a bad cpu quantity from env, naming the variable and cpu examples', () => {
    badOption(
      () => redisWith({ env: { KUBECACHE_REDIS_CPU_LIMIT: 'half' } }),
      'KUBECACHE_REDIS_CPU_LIMIT',
      '"100m"',
    );
  });

  it('compares quantities across units', () => {
    expect(quantityValue('500m')).toBeCloseTo(0.5);
    expect(quantityValue('1Gi')).toBe(1024 ** 3);
    expect(quantityValue('1e3')).toBe(1000);
    expect(quantityValue('1G')).toBeLessThan(quantityValue('1Gi'));
  });

  it('rejects a request above its limit, naming both sources', () => {
    const err = badOption(
      () => redisWith({ env: { KUBECACHE_MEMORY_REQUEST: '512Mi' } }),
      'KUBECACHE_MEMORY_REQUEST',
      'built-in default for resources.limits.memory',
      'KUBECACHE_MEMORY_LIMIT',
    );
    expect(err.details.field).toBe('KUBECACHE_MEMORY_REQUEST');
    badOption(
      () =>
        redisWith({ global: { engines: { redis: { resources: { limits: { cpu: '10m' } } } } } }),
      'engines.redis.resources.limits.cpu',
    );
    expect(
      redisWith({ env: { KUBECACHE_MEMORY_REQUEST: '512Mi', KUBECACHE_MEMORY_LIMIT: '1Gi' } })
        .resources.limits.memory,
    ).toBe('1Gi');
  });

  it.each([
    [{ labels: { 'bad key!': 'x' } }, 'labels["bad key!"]', '[prefix/]name'],
    [{ labels: { team: 'has space' } }, 'labels["team"]', 'at most 63 characters'],
    [{ labels: { team: 'x'.repeat(64) } }, 'labels["team"]', 'at most 63 characters'],
    [{ nodeSelector: { zone: '-a' } }, 'nodeSelector["zone"]', 'label value'],
    [{ labels: { 'kubecache.dev/run': 'x' } }, 'labels["kubecache.dev/run"]', 'reserved'],
    [
      { annotations: { 'app.kubernetes.io/managed-by': 'x' } },
      'annotations["app.kubernetes.io/managed-by"]',
      'reserved',
    ],
    [{ annotations: { ok: 5 } }, 'annotations["ok"]', 'a string value'],
  ])('rejects bad label/annotation %j', (call, path, expected) => {
    badOption(() => validateCacheOptions(call), path, expected);
  });

  it('accepts annotation values that are not valid label values', () => {
    expect(validateCacheOptions({ annotations: { note: 'free text, with spaces!' } })).toEqual({
      annotations: { note: 'free text, with spaces!' },
    });
  });

  it('rejects malformed key=value env lists', () => {
    badOption(
      () => redisWith({ env: { KUBECACHE_NODE_SELECTOR: 'disktype' } }),
      'KUBECACHE_NODE_SELECTOR',
      'key=value',
    );
    badOption(
      () => redisWith({ env: { KUBECACHE_REDIS_LABELS: 'team=a b' } }),
      'KUBECACHE_REDIS_LABELS',
    );
  });

  it.each([
    [[{ key: 'a', operator: 'Sometimes' }], 'tolerations[0].operator', '"Exists", "Equal"'],
    [[{ key: 'a', operator: 'Exists', value: 'v' }], 'tolerations[0].value', 'no value'],
    [[{ key: 'a', effect: 'Evict' }], 'tolerations[0].effect', '"NoExecute"'],
    [[{ operator: 'Equal', value: 'v' }], 'tolerations[0].operator', '"Exists" when no key'],
    [
      [{ key: 'a', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }],
      'tolerations[0].effect',
      'tolerationSeconds',
    ],
    [
      [{ key: 'a', operator: 'Exists', effectt: 'NoSchedule' }],
      'tolerations[0].effectt',
      '"effect"',
    ],
    [{ key: 'a' }, 'tolerations', 'an array of tolerations'],
  ])('rejects toleration %j', (tolerations, path, expected) => {
    badOption(() => validateCacheOptions({ tolerations: tolerations as never }), path, expected);
  });

  it('rejects toleration env JSON that does not parse or validate', () => {
    badOption(
      () => redisWith({ env: { KUBECACHE_TOLERATIONS: '[{key:1}]' } }),
      'KUBECACHE_TOLERATIONS',
      'did not parse',
    );
    badOption(
      () => redisWith({ env: { KUBECACHE_TOLERATIONS: '[{"key":"a","operator":"Maybe"}]' } }),
      'environment variable KUBECACHE_TOLERATIONS (at [0].operator)',
    );
  });

  it('accepts a valid toleration set', () => {
    const tolerations = [
      { operator: 'Exists' as const },
      { key: 'dedicated', operator: 'Equal' as const, value: 'ci', effect: 'NoSchedule' as const },
      {
        key: 'node.kubernetes.io/unreachable',
        operator: 'Exists' as const,
        effect: 'NoExecute' as const,
        tolerationSeconds: 30,
      },
    ];
    expect(validateCacheOptions({ tolerations }).tolerations).toEqual(tolerations);
  });

  it.each<[unknown, string, string]>([
    [{ image: '' }, 'option image', 'container image'],
    [{ image: 'redis 7' }, 'option image', 'without spaces'],
    [{ args: '--x' }, 'option args', 'array of strings'],
    [{ args: ['--x', 5] }, 'option args[1]', 'a string'],
    [{ imagePullSecrets: ['Reg_Cred'] }, 'imagePullSecrets[0]', 'Secret name'],
    [{ resources: { requests: { gpu: '1' } } }, 'resources.requests.gpu', '"cpu", "memory"'],
    [{ nodeSelector: ['a=b'] }, 'option nodeSelector', 'plain object'],
  ])('rejects %j', (call, path, expected) => {
    badOption(() => validateCacheOptions(call), path, expected);
  });

  it('rejects an unknown engine', () => {
    badOption(() => resolveCacheConfig('mysql' as never, { env: {} }), '"mysql"', '"redis"');
  });
});

describe('resolveClusterConfig', () => {
  it('defaults namespace, deadline and timeouts', () => {
    expect(resolveClusterConfig({ env: {} })).toEqual({
      namespace: 'default',
      namespaceSource: 'default',
      activeDeadlineSeconds: 3600,
      timeouts: { ...DEFAULT_TIMEOUTS },
      reuse: false,
      reuseIdleSeconds: 1800,
      daemon: false,
    });
  });

  it('runs a daemon with reuse, except in CI unless asked, and never without reuse', () => {
    const daemon = (global: KubecacheOptions, env: NodeJS.ProcessEnv) =>
      resolveClusterConfig({ global, env }).daemon;
    expect(daemon({ reuse: true }, {})).toBe(true);
    expect(daemon({ reuse: true }, { CI: 'true' })).toBe(false);
    expect(daemon({ reuse: true }, { CI: 'false' })).toBe(true);
    expect(daemon({ reuse: true }, { CI: '' })).toBe(true);
    expect(daemon({ reuse: true }, { CI: '1', KUBECACHE_DAEMON: '1' })).toBe(true);
    expect(daemon({ reuse: true, daemon: true }, { CI: 'true' })).toBe(true);
    expect(daemon({ reuse: true, daemon: true }, { KUBECACHE_DAEMON: '0' })).toBe(false);
    expect(daemon({ reuse: true, daemon: false }, {})).toBe(false);
    expect(daemon({ daemon: true }, {})).toBe(false);
    expect(daemon({}, { KUBECACHE_REUSE: '1' })).toBe(true);
  });

  it('names a bad daemon setting and where it came from', () => {
    expect(() => resolveClusterConfig({ env: { KUBECACHE_DAEMON: 'yes' } })).toThrow(
      /KUBECACHE_DAEMON.*1, 0, true or false/s,
    );
    expect(() =>
      resolveClusterConfig({ global: { daemon: 'on' } as unknown as KubecacheOptions, env: {} }),
    ).toThrow(/daemon.*true or false/s);
  });

  it('takes options, then lets env override them', () => {
    const global: KubecacheOptions = {
      namespace: 'from-options',
      context: 'ctx-a',
      kubeconfig: '/tmp/a',
      activeDeadlineSeconds: 600,
      timeouts: { deleteMs: 1000, execMs: 2000 },
    };
    expect(resolveClusterConfig({ global, env: {} })).toMatchObject({
      namespace: 'from-options',
      namespaceSource: 'options',
      context: 'ctx-a',
      kubeconfig: '/tmp/a',
      activeDeadlineSeconds: 600,
      timeouts: { deleteMs: 1000, execMs: 2000 },
    });
    const env = {
      KUBECACHE_NAMESPACE: 'from-env',
      KUBECACHE_CONTEXT: 'ctx-b',
      KUBECACHE_KUBECONFIG: '/home/some user/.kube/config',
      KUBECACHE_ACTIVE_DEADLINE_SECONDS: '120',
      KUBECACHE_TIMEOUT_DELETE_MS: '3000',
    };
    expect(resolveClusterConfig({ global, env })).toMatchObject({
      namespace: 'from-env',
      namespaceSource: 'env',
      context: 'ctx-b',
      kubeconfig: '/home/some user/.kube/config',
      activeDeadlineSeconds: 120,
      timeouts: { deleteMs: 3000, execMs: 2000 },
    });
  });

  it.each(['Bad_NS', 'ends-with-', 'x'.repeat(64)])('rejects namespace %j', (namespace) => {
    badOption(
      () => resolveClusterConfig({ global: { namespace }, env: {} }),
      'option namespace',
      'namespace name',
    );
    badOption(
      () => resolveClusterConfig({ env: { KUBECACHE_NAMESPACE: namespace } }),
      'KUBECACHE_NAMESPACE',
    );
  });

  it.each(['0', '-1', 'soon', '1.5'])('rejects KUBECACHE_ACTIVE_DEADLINE_SECONDS=%s', (value) => {
    badOption(
      () => resolveClusterConfig({ env: { KUBECACHE_ACTIVE_DEADLINE_SECONDS: value } }),
      'KUBECACHE_ACTIVE_DEADLINE_SECONDS',
      'positive whole number of seconds',
    );
  });

  it('checks the lease relationship across options and env', () => {
    badOption(
      () =>
        resolveClusterConfig({
          global: { timeouts: { leaseMs: 10000 } },
          env: { KUBECACHE_TIMEOUT_LEASE_RENEW_MS: '20000' },
        }),
      'KUBECACHE_TIMEOUT_LEASE_RENEW_MS',
      'option timeouts.leaseMs',
    );
  });
});

describe('security options', () => {
  it('locks redis by default and leaves memcached SASL opt-in', () => {
    expect(resolveCacheConfig('redis', { env: {} }).auth).toBe(true);
    expect(resolveCacheConfig('memcached', { env: {} }).auth).toBe(false);
    expect(resolveCacheConfig('valkey', { env: {} }).auth).toBe(true);
  });

  it('takes auth, acl, tls and networkPolicy from options, per engine, env and call', () => {
    const c = resolveCacheConfig('memcached', {
      env: { KUBECACHE_MEMCACHED_AUTH: 'true', KUBECACHE_NETWORK_POLICY: '1' },
      global: { auth: false, engines: { memcached: { tls: false } } },
    });
    expect([c.auth, c.tls, c.networkPolicy]).toEqual([true, false, true]);
    const r = redisWith({ global: { acl: 'restricted' }, call: { auth: false, tls: true } });
    expect([r.auth, r.acl, r.tls]).toEqual([false, 'restricted', true]);
    expect(redisWith({ env: { KUBECACHE_ACL: 'restricted' } }).acl).toBe('restricted');
  });

  it('rejects values that are not booleans or known profiles', () => {
    badOption(
      () => redisWith({ call: { auth: 'yes' as never } }),
      'auth',
      '"yes"',
      'true or false',
    );
    badOption(() => redisWith({ env: { KUBECACHE_TLS: 'on' } }), 'KUBECACHE_TLS', '"on"');
    badOption(
      () => redisWith({ call: { acl: 'readonly' as never } }),
      'acl',
      '"app", "restricted"',
    );
  });
});

describe('uid and maxRdbVersion', () => {
  it('leaves both unset by default and takes them from options and env', () => {
    const base = redisWith({});
    expect(base.uid).toBeUndefined();
    expect(base.maxRdbVersion).toBeUndefined();
    expect(redisWith({ global: { uid: 'platform', maxRdbVersion: 11 } })).toMatchObject({
      uid: 'platform',
      maxRdbVersion: 11,
    });
    expect(
      redisWith({ env: { KUBECACHE_UID: '1000680000', KUBECACHE_REDIS_MAX_RDB_VERSION: '12' } }),
    ).toMatchObject({ uid: 1000680000, maxRdbVersion: 12 });
    expect(redisWith({ env: { KUBECACHE_UID: 'platform' } }).uid).toBe('platform');
    // Per-call options win over env, like every cache option.
    expect(redisWith({ env: { KUBECACHE_UID: 'platform' }, call: { uid: 4242 } }).uid).toBe(4242);
  });

  it('refuses root, junk and non-integers, naming the accepted values', () => {
    badOption(() => redisWith({ call: { uid: 0 } }), 'uid', '"platform" or a non-root UID');
    badOption(() => redisWith({ env: { KUBECACHE_UID: 'openshift' } }), 'KUBECACHE_UID');
    badOption(() => redisWith({ call: { maxRdbVersion: 10.5 } }), 'maxRdbVersion', 'RDB versions');
    badOption(() => redisWith({ call: { maxRdbVersion: -1 } }), 'maxRdbVersion');
  });
});
