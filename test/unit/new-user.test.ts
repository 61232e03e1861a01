// The findings of issue 13 ("a new user's first hour") and claim 9 of issue
// 9 that pure code can show: each test failed before its fix.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  isQuiet,
  knownEnvVars,
  unknownEnvWarnings,
  withoutEmptyVars,
} from '../../src/config/env.js';
import { resolveClusterConfig } from '../../src/config/options.js';
import { snapshotRedis } from '../../src/engines/redis/snapshot.js';
import { ENGINE_NAMES } from '../../src/engines/types.js';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import { toKubecacheError } from '../../src/kube/api-error.js';
import { connectKube, loadKubeConfig } from '../../src/kube/client.js';
import { configLoadHint, loadRunnerConfig, mergeOptions } from '../../src/runner/config-file.js';
import { checkNodeVersion, nodeIsSupported } from '../../src/runner/node-version.js';
import { BrokerClient } from '../../src/worker/broker-client.js';
import {
  CacheSlot,
  callSite,
  checkUseCache,
  openTimeoutOf,
  prefetchedFileSlot,
  type UsedCache,
} from '../../src/worker/cache-slot.js';
import type { CacheHandle } from '../../src/worker/open-cache.js';
import { toSeedRequest } from '../../src/worker/seed-input.js';
import { rejection } from '../support/errors.js';
import { closedPort } from './helpers/local-servers.js';

function thrown(fn: () => unknown): KubecacheError {
  try {
    fn();
  } catch (err) {
    if (isKubecacheError(err)) return err;
    throw new Error(`expected a KubecacheError, got ${String(err)}`);
  }
  throw new Error('expected a KubecacheError, nothing was thrown');
}

describe('1: the broker client works without a global fetch (jsdom)', () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it('calls the broker over node:http', async () => {
    const server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ state: 'ready', auth: req.headers.authorization }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    // jsdom's window has no fetch; a worker in it sees globalThis.fetch undefined.
    (globalThis as { fetch?: unknown }).fetch = undefined;
    try {
      const client = new BrokerClient(`http://127.0.0.1:${port}`, 'tok');
      expect(await client.status('x')).toEqual({ state: 'ready', auth: 'Bearer tok' });
    } finally {
      server.close();
    }
  });

  it('says where the broker lives when it does not answer, not "fetch is not defined"', async () => {
    const port = await closedPort();
    const err = await rejection(new BrokerClient(`http://127.0.0.1:${port}`, 't').status('x'));
    expect(err.code).toBe('BROKER');
    expect(err.message).toContain(`http://127.0.0.1:${port} did not answer (connect ECONNREFUSED`);
    expect(err.message).toContain("runner's main process");
    expect(err.message).not.toContain('fetch');
  });
});

describe('a cluster that does not answer', () => {
  it('says why once, with the code once, not "fetch failed"', async () => {
    const port = await closedPort();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'dead', cluster: 'c', user: 'u' }],
      currentContext: 'dead',
    });
    const file = join(mkdtempSync(join(tmpdir(), 'kc-dead-')), 'kubeconfig');
    writeFileSync(file, kc.exportConfig());
    const err = await rejection(connectKube({ kubeconfig: file, apiConnectMs: 2_000 }));
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toContain(
      `Kubernetes API server https://127.0.0.1:${port} is unreachable (fetch failed: connect ECONNREFUSED`,
    );
    expect(err.message).toContain('kubectl --context dead get nodes');
    expect(err.message.match(/UNREACHABLE/g)).toHaveLength(1);
    expect(err.message).not.toContain('in namespace');
  });
});

describe("2: a failure to open a cache points at the user's useCache line", () => {
  it('appends the call site to the error stack', async () => {
    const site = (function useCacheHere() {
      return callSite(useCacheHere);
    })();
    expect(site()).toContain('new-user.test.ts');
    const slot = new CacheSlot('redis', {}, 'this test file', site);
    const port = await closedPort();
    const err = await rejection(
      slot.open({ url: `http://127.0.0.1:${port}`, token: 't', seeds: {} }, '1'),
    );
    expect(err.stack).toContain('[BROKER]');
    expect(err.stack?.split('\n').some((l) => /at .*new-user\.test\.ts:\d+:\d+/.test(l))).toBe(
      true,
    );
  });
});

describe('3: a namespace that does not exist has its own code', () => {
  it('maps a 404 for the namespace to NAMESPACE_NOT_FOUND with the fix', () => {
    // The Status body the API server sends for a create in a missing namespace.
    const apiError = Object.assign(new Error('HTTP-Code: 404'), {
      code: 404,
      body: JSON.stringify({
        kind: 'Status',
        status: 'Failure',
        message: 'namespaces "ci-cache" not found',
        reason: 'NotFound',
        details: { name: 'ci-cache', kind: 'namespaces' },
        code: 404,
      }),
    });
    const err = toKubecacheError(apiError, {
      verb: 'create',
      resource: 'secrets',
      namespace: 'ci-cache',
    });
    expect(err.code).toBe('NAMESPACE_NOT_FOUND');
    expect(err.message).toContain('[NAMESPACE_NOT_FOUND] the namespace "ci-cache" does not exist');
    expect(err.message).toContain('kubectl create namespace ci-cache');
    expect(err.message).toContain('KUBECACHE_NAMESPACE');
  });

  it('maps a 401 mid-run (expired credentials) to FORBIDDEN with the fix, not INTERNAL', () => {
    const apiError = Object.assign(new Error('HTTP-Code: 401'), {
      code: 401,
      body: { kind: 'Status', message: 'Unauthorized', reason: 'Unauthorized', code: 401 },
    });
    const err = toKubecacheError(apiError, { verb: 'create', resource: 'pods', namespace: 'ci' });
    expect(err.code).toBe('FORBIDDEN');
    expect(err.message).toContain('create pods in namespace ci was refused');
    expect(err.message).toContain('log in to the cluster again');
    expect(err.message).toContain('kubectl get pods -n ci');
  });

  it('maps a 422 Invalid (a value from the options) to BAD_OPTION naming the field, not INTERNAL', () => {
    const serverSaid =
      'Pod "kc-redis-1" is invalid: spec.containers[0].image: Invalid value: "redis:7 ": must not have leading or trailing whitespace';
    const apiError = Object.assign(new Error('HTTP-Code: 422'), {
      code: 422,
      body: { kind: 'Status', message: serverSaid, reason: 'Invalid', code: 422 },
    });
    const err = toKubecacheError(apiError, { verb: 'create', resource: 'pods', namespace: 'ci' });
    expect(err.code).toBe('BAD_OPTION');
    expect(err.message).toContain(serverSaid);
    expect(err.message).toContain('comes from your kubecache options');
    expect(err.message).toContain('fix that value');
  });

  it('keeps POD_GONE for a pod that is not found', () => {
    const apiError = Object.assign(new Error('HTTP-Code: 404'), {
      code: 404,
      body: { message: 'pods "kc-1" not found', details: { name: 'kc-1', kind: 'pods' } },
    });
    const err = toKubecacheError(apiError, { verb: 'get', resource: 'pods', namespace: 'x' });
    expect(err.code).toBe('POD_GONE');
  });
});

describe('4: typo hints cover every key and every KUBECACHE_* variable', () => {
  it.each([
    ['sede', 'seed'],
    ['nmae', 'name'],
    ['rest', 'reset'],
    ['openTimeoutMS', 'openTimeoutMs'],
    ['imgae', 'image'],
    ['evn', 'env'],
  ])('useCache option %s suggests %s', (typo, meant) => {
    const err = thrown(() => checkUseCache('redis', { [typo]: 1 }, 'useCache("redis")'));
    expect(err.code).toBe('BAD_OPTION');
    expect(err.message).toContain(`Did you mean "${meant}"?`);
    expect(err.message).toContain('"seed"');
    expect(err.message).toContain('"openTimeoutMs"');
  });

  it('checks nested pod options at the call too', () => {
    const err = thrown(() =>
      checkUseCache('redis', { resources: { limits: { memroy: '1Gi' } } }, 'useCache("redis")'),
    );
    expect(err.message).toContain('Did you mean "memory"?');
  });

  it('suggests "seeds" for "seed" in the config file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kc-config-'));
    writeFileSync(join(dir, 'kubecache.config.json'), JSON.stringify({ seed: {} }));
    const err = await rejection(loadRunnerConfig({ root: dir, env: {} }));
    expect(err.message).toContain('Did you mean "seeds"?');
  });

  it('says how to load a config file with import/export in a CommonJS package', () => {
    // Node's own parser error for the docs' config in a package that npm init
    // made ("type": "commonjs"); the test runner's import would not show it.
    let syntax: unknown;
    try {
      new Script("import { defineConfig } from 'kubecache/config';");
    } catch (err) {
      syntax = err;
    }
    const hint = configLoadHint(syntax, '/app/kubecache.config.ts');
    expect(hint).toContain('Node loaded kubecache.config.ts as CommonJS');
    expect(hint).toContain('Rename the file to kubecache.config.mts');
    expect(configLoadHint(new Error('Cannot find module x'), '/app/kubecache.config.ts')).toBe('');
  });

  it('warns about misspelled variables with the closest known name', () => {
    const warnings = unknownEnvWarnings({
      KUBECACHE_NAMSPACE: 'ci',
      KUBECACHE_REDIS_MEMORY_LIMT: '1Gi',
      KUBECACHE_NAMESPACE: 'ok',
      KUBECACHE_REDIS_SEED: './x.json',
      KUBECACHE_BROKER_URL: 'http://x',
      PATH: '/bin',
    });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('KUBECACHE_NAMSPACE');
    expect(warnings[0]).toContain('Did you mean KUBECACHE_NAMESPACE?');
    expect(warnings[1]).toContain('Did you mean KUBECACHE_REDIS_MEMORY_LIMIT?');
  });

  it("does not warn about the dev cluster's and the project's own test variables", () => {
    const own = {
      KUBECACHE_CLUSTER: 'oldest',
      KUBECACHE_CLUSTER_SLOT: '1',
      KUBECACHE_CONTAINERD_VERSION: 'debian',
      KUBECACHE_TEST_KUBECONFIG: '/x',
    };
    expect(unknownEnvWarnings(own)).toEqual([]);
    expect(unknownEnvWarnings({ ...own, KUBECACHE_QUITE: '1' })).toHaveLength(1);
  });

  it('reads KUBECACHE_QUIET as 1 or true, an empty value as unset', () => {
    expect(isQuiet({ KUBECACHE_QUIET: '1' })).toBe(true);
    expect(isQuiet({ KUBECACHE_QUIET: 'true' })).toBe(true);
    expect(isQuiet({ KUBECACHE_QUIET: ' 1 ' })).toBe(true);
    expect(isQuiet({ KUBECACHE_QUIET: '0' })).toBe(false);
    expect(isQuiet({ KUBECACHE_QUIET: '' })).toBe(false);
    expect(isQuiet({})).toBe(false);
  });
});

describe('5: a wrong engine name fails at the useCache call', () => {
  it.each([
    ['Redis', 'Did you mean "redis"?'],
    ['memcache', 'Did you mean "memcached"?'],
    ['Valkey', 'Did you mean "valkey"?'],
  ])('%s', (engine, hint) => {
    const err = thrown(() => checkUseCache(engine, {}, `useCache(${JSON.stringify(engine)})`));
    expect(err.code).toBe('BAD_OPTION');
    expect(err.message).toContain(`unknown cache engine "${engine}"`);
    expect(err.message).toContain(hint);
    expect(err.message).not.toContain('acquire needs');
  });
});

describe('6: no cluster configured', () => {
  it("says so in the user's terms, with no script of this repository", () => {
    const err = thrown(() => loadKubeConfig({}, { HOME: '/nonexistent' }));
    expect(err.code).toBe('NO_CLUSTER');
    expect(err.message).toContain('/nonexistent/.kube/config does not exist');
    expect(err.message).toContain('KUBECONFIG');
    expect(err.message).not.toContain('npm run');
    expect(err.message).not.toContain('cluster:up');
  });

  it('claim 9.9: a KUBECONFIG naming a missing file is a KubecacheError, not ENOENT', () => {
    const err = thrown(() => loadKubeConfig({}, { KUBECONFIG: '/nonexistent/kubeconfig' }));
    expect(err.code).toBe('NO_CLUSTER');
    expect(err.message).toContain('/nonexistent/kubeconfig, which does not exist');
    const option = thrown(() => loadKubeConfig({ kubeconfig: '/nonexistent/kc' }, {}));
    expect(option.code).toBe('NO_CLUSTER');
    expect(option.message).toContain('the kubeconfig /nonexistent/kc does not exist');
  });
});

describe('7: seeds given as file-URL strings', () => {
  it('reads new URL(...).href as the file it names', () => {
    const href = pathToFileURL('/project/fixtures/users.rdb').href;
    expect(toSeedRequest(href, '/elsewhere', 'seed')).toEqual({
      kind: 'rdb',
      path: '/project/fixtures/users.rdb',
    });
    expect(toSeedRequest({ kind: 'json', path: href }, '/x', 'seed').path).toBe(
      '/project/fixtures/users.rdb',
    );
  });
});

describe('9: useCache values are validated', () => {
  it.each([
    [{ openTimeoutMs: -5 }, 'openTimeoutMs'],
    [{ openTimeoutMs: 1.5 }, 'openTimeoutMs'],
    [{ reset: 'each' }, '"test" (reset before every test, the default) or "file"'],
    [{ name: 'two words' }, 'a short name'],
    [{ seed: 42 }, 'must be a file path or file URL'],
    [{ seed: './x.yaml' }, 'cannot tell the seed kind'],
    [{ clientOptions: 'fast' }, 'client options'],
  ])('%j', (options, fragment) => {
    const err = thrown(() => checkUseCache('redis', options, 'useCache("redis")'));
    expect(err.message).toContain(fragment);
  });

  it('accepts what the docs show', () => {
    expect(() =>
      checkUseCache(
        'redis',
        {
          seed: new URL('file:///x/users.json'),
          name: 'sessions',
          reset: 'file',
          openTimeoutMs: 30_000,
          clientOptions: { connectionName: 'x' },
          env: 'QUEUE_URL',
          image: 'redis:7-alpine',
        },
        'useCache("redis")',
      ),
    ).not.toThrow();
    expect(() =>
      checkUseCache('redis', { engine: 'redis', scope: 'worker' }, 'fixture', true),
    ).not.toThrow();
  });

  it('takes an open timeout given as a string as that many milliseconds', () => {
    // '30000' passes validation as in a config file; added to as a string it
    // made a hook timeout of "300005000", past setTimeout's limit: at once.
    const noBroker = () => {
      throw new Error('no broker');
    };
    const { timeout } = prefetchedFileSlot(
      'redis',
      { openTimeoutMs: '30000' as unknown as number },
      undefined,
      noBroker,
      () => '1',
    );
    expect(timeout).toBe(35_000);
    expect(openTimeoutOf({})).toBe(120_000);
  });

  it('the open timeout message does not promise progress lines', async () => {
    vi.useFakeTimers();
    try {
      const slot = new CacheSlot('redis', { openTimeoutMs: 1 }, 'this test file');
      // A broker that never answers: a server that accepts and stays silent.
      const server = createServer(() => {});
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as { port: number };
      const pending = rejection(
        slot.open({ url: `http://127.0.0.1:${port}`, token: 't', seeds: {} }, '1'),
      );
      await vi.advanceTimersByTimeAsync(5);
      const err = await pending;
      server.closeAllConnections();
      server.close();
      expect(err.code).toBe('TIMEOUT');
      expect(err.message).toContain('took more than openTimeoutMs (1 ms)');
      expect(err.message).toContain('none means it had not started yet');
      expect(err.message).not.toContain("The runner's output shows the pod's progress");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('a cache used outside its tests', () => {
  it('is NOT_OPEN, a mistake the user can fix, not an INTERNAL error', () => {
    const slot = new CacheSlot('redis', {}, 'this test file');
    const err = thrown(() => slot.client);
    expect(err.code).toBe('NOT_OPEN');
    expect(err.message).toContain('the redis cache of this test file is not open yet');
    expect(err.message).toContain('use it inside tests and hooks');
    // What a useCache called inside a test gets, whose hook never runs.
    expect(err.message).toContain('If useCache itself was called inside a test or hook');
  });

  it('says "not open any more" after its afterAll closed it', async () => {
    const slot = new CacheSlot('redis', {}, 'this test file');
    // As open() leaves it; opening for real needs a broker and a pod.
    const handle = { close: async () => {} } as unknown as CacheHandle<'redis'>;
    Object.assign(slot, { handle, wasOpen: true });
    expect(slot.opened).toBe(true);
    await slot.close();
    const err = thrown(() => slot.url);
    expect(err.code).toBe('NOT_OPEN');
    expect(err.message).toContain('is not open any more: it closed in its afterAll hook');
    expect(err.message).not.toContain('If useCache itself was called inside a test');
  });
});

describe('10: snapshot into a missing directory', () => {
  it('names the missing directory, not the temporary .part file', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kc-snap-')), 'no-such-dir');
    const err = await rejection(
      snapshotRedis({ host: '127.0.0.1', port: 1 }, join(dir, 'x.rdb'), {
        timeoutMs: 1000,
        diskless: true,
      }),
    );
    expect(err.code).toBe('BAD_OPTION');
    expect(err.message).toContain(`the directory ${dir} does not exist`);
    expect(err.message).toContain(`mkdir -p ${dir}`);
    expect(err.message).not.toContain('.part');
  });
});

describe('10: snapshot() on a memcached handle', () => {
  it('does not type-check (tsc --noEmit checks this file)', () => {
    expectTypeOf<UsedCache<'memcached'>['snapshot']>().toBeNever();
    expectTypeOf<UsedCache<'redis'>['snapshot']>().toBeFunction();
    const call = (cache: UsedCache<'memcached'>) =>
      // @ts-expect-error memcached has no dump format, so its handle has no snapshot().
      cache.snapshot('./x.rdb');
    expect(typeof call).toBe('function');
  });
});

describe('12: Node versions', () => {
  it('knows the minimum', () => {
    expect(nodeIsSupported('v22.19.0')).toBe(true);
    expect(nodeIsSupported('v24.1.0')).toBe(true);
    expect(nodeIsSupported('v22.18.9')).toBe(false);
    expect(nodeIsSupported('v20.19.5')).toBe(false);
  });

  it('names the version, the minimum and the fix', () => {
    const err = thrown(() => checkNodeVersion('v20.19.5'));
    expect(err.code).toBe('UNSUPPORTED_NODE');
    expect(err.message).toContain('needs Node 22.19.0 or later');
    expect(err.message).toContain('uses Node 20.19.5');
  });
});

describe('claim 9.9: empty variables and merged resources', () => {
  it('reads empty KUBECACHE_* variables as unset', () => {
    const env = withoutEmptyVars({ KUBECACHE_NAMESPACE: '', KUBECACHE_SEED_BIND: '  ', A: '' });
    expect(env).toEqual({ A: '' });
    expect(
      resolveClusterConfig({ global: { namespace: 'ci' }, env: { KUBECACHE_NAMESPACE: '' } })
        .namespace,
    ).toBe('ci');
  });

  it('merges runner resources into the config file resources', () => {
    const merged = mergeOptions(
      { resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1' } } },
      { resources: { limits: { memory: '1Gi' } } },
    );
    expect(merged.resources).toEqual({
      requests: { cpu: '100m', memory: '64Mi' },
      limits: { cpu: '1', memory: '1Gi' },
    });
  });
});

describe('4: every variable env.ts reads is a known name (no false "did you mean")', () => {
  it('knows the per-engine variables of every engine, valkey included', () => {
    for (const engine of ENGINE_NAMES) {
      const prefix = `KUBECACHE_${engine.toUpperCase()}_`;
      expect(
        unknownEnvWarnings({
          [`${prefix}IMAGE`]: 'x',
          [`${prefix}ARGS`]: 'x',
          [`${prefix}SEED`]: 'x',
          [`${prefix}MEMORY_LIMIT`]: '1Gi',
          [`${prefix}AUTH`]: 'true',
        }),
      ).toEqual([]);
    }
  });

  it('knows every KUBECACHE_* variable docs/configuration.md names', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    // Not the patterns (KUBECACHE_REDIS_*, KUBECACHE_TIMEOUT_<NAME>_MS) nor the doc's typo example.
    const named = [...new Set(doc.match(/KUBECACHE_[A-Z_]*[A-Z](?![A-Z_<*])/g))].filter(
      (n) => n !== 'KUBECACHE_NAMSPACE',
    );
    expect(named.length).toBeGreaterThan(20);
    const env = Object.fromEntries(named.map((n) => [n, '1']));
    expect(unknownEnvWarnings(env)).toEqual([]);
  });

  it('finds each variable src/config/env.ts reads in knownEnvVars()', () => {
    const source = readFileSync(new URL('../../src/config/env.ts', import.meta.url), 'utf8');
    const known = new Set(knownEnvVars());
    const names = new Set<string>();
    for (const m of source.matchAll(/take\('([A-Z_]+)'/g)) names.add(`KUBECACHE_${m[1]}`);
    for (const m of source.matchAll(/\['([A-Z_]+)', '[a-zA-Z]+'\]/g))
      names.add(`KUBECACHE_${m[1]}`);
    for (const m of source.matchAll(/`\$\{ENV_PREFIX\}([A-Z_]+[A-Z])`/g))
      names.add(`KUBECACHE_${m[1]}`);
    expect(names.size).toBeGreaterThan(10);
    // Per-engine suffixes (ARGS) are known as KUBECACHE_REDIS_ARGS and so on.
    const unknown = [...names].filter(
      (n) => !known.has(n) && !known.has(n.replace('KUBECACHE_', 'KUBECACHE_REDIS_')),
    );
    expect(unknown).toEqual([]);
  });
});
