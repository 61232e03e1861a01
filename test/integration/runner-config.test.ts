import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveCacheConfig, resolveClusterConfig } from '../../src/config/options.js';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import { loadRunnerConfig, mergeOptions } from '../../src/runner/config-file.js';
import { toSeedRequest } from '../../src/worker/seed-input.js';

// How the runner integrations read kubecache.config.* and runner options.
// No cluster needed; kept with the integration tests because it exercises
// the runner layer that the consumer projects drive.

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubecache-config-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

async function failure(p: Promise<unknown>): Promise<KubecacheError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isKubecacheError(err)) throw new Error(`expected a KubecacheError, got ${String(err)}`);
  return err;
}

describe('kubecache.config files', () => {
  it('reads namespace, images, endpoint, seeds and timeouts from kubecache.config.json', async () => {
    const root = project({
      'kubecache.config.json': JSON.stringify({
        namespace: 'team-a',
        endpoint: 'port-forward',
        engines: { redis: { image: 'valkey/valkey:8-alpine' } },
        timeouts: { podRunningMs: 90_000 },
        seeds: { redis: './fixtures/basic.rdb', memcached: { kind: 'json', path: 'm.json' } },
      }),
    });
    const loaded = await loadRunnerConfig({ root, env: {} });
    expect(loaded.file).toBe(join(root, 'kubecache.config.json'));
    expect(loaded.seeds).toEqual({
      redis: { kind: 'rdb', path: join(root, 'fixtures', 'basic.rdb') },
      memcached: { kind: 'json', path: join(root, 'm.json') },
    });
    const redis = resolveCacheConfig('redis', { global: loaded.options, env: {} });
    expect(redis.image).toBe('valkey/valkey:8-alpine');
    expect(redis.endpoint).toBe('port-forward');
    expect(redis.timeouts.podRunningMs).toBe(90_000);
    expect(resolveClusterConfig({ global: loaded.options, env: {} }).namespace).toBe('team-a');
  });

  it('loads TypeScript, ES module and CommonJS config files', async () => {
    const ts = project({
      'kubecache.config.ts': `const namespace: string = 'from-ts';\nexport default { namespace };\n`,
    });
    const mjs = project({
      'kubecache.config.mjs': `export default async () => ({ namespace: 'from-mjs' });\n`,
    });
    const cjs = project({
      'kubecache.config.cjs': `module.exports = { namespace: 'from-cjs' };\n`,
    });
    expect((await loadRunnerConfig({ root: ts, env: {} })).options.namespace).toBe('from-ts');
    expect((await loadRunnerConfig({ root: mjs, env: {} })).options.namespace).toBe('from-mjs');
    expect((await loadRunnerConfig({ root: cjs, env: {} })).options.namespace).toBe('from-cjs');
  });

  it('lets runner options override the file, and env vars override both', async () => {
    const root = project({
      'kubecache.config.mjs': `export default { namespace: 'file', timeouts: { podRunningMs: 1000, probeMs: 2000 }, seeds: { redis: 'a.rdb' } };\n`,
    });
    const loaded = await loadRunnerConfig({
      root,
      runnerOptions: { timeouts: { probeMs: 3000 }, seeds: { memcached: 'b.json' } },
      env: { KUBECACHE_REDIS_SEED: 'none' },
    });
    expect(loaded.options.namespace).toBe('file');
    expect(loaded.options.timeouts).toEqual({ podRunningMs: 1000, probeMs: 3000 });
    expect(loaded.seeds).toEqual({ memcached: { kind: 'json', path: join(root, 'b.json') } });
    const env = { KUBECACHE_NAMESPACE: 'from-env', KUBECACHE_TIMEOUT_PROBE_MS: '4000' };
    expect(resolveClusterConfig({ global: loaded.options, env }).namespace).toBe('from-env');
    expect(resolveCacheConfig('redis', { global: loaded.options, env }).timeouts.probeMs).toBe(
      4000,
    );
  });

  it('follows KUBECACHE_CONFIG, and refuses two config files at once', async () => {
    const root = project({
      'kubecache.config.json': '{"namespace": "one"}',
      'kubecache.config.mjs': `export default { namespace: 'two' };\n`,
      'ci/kubecache.json': '{"namespace": "ci"}',
    });
    const both = await failure(loadRunnerConfig({ root, env: {} }));
    expect(both.code).toBe('BAD_OPTION');
    expect(both.message).toContain('KUBECACHE_CONFIG');
    const chosen = await loadRunnerConfig({ root, env: { KUBECACHE_CONFIG: 'ci/kubecache.json' } });
    expect(chosen.options.namespace).toBe('ci');
    const missing = await failure(
      loadRunnerConfig({ root, env: { KUBECACHE_CONFIG: 'nope.json' } }),
    );
    expect(missing.message).toContain('nope.json');
  });

  it('names the file and the key when an option is wrong', async () => {
    const root = project({ 'kubecache.config.json': '{"endpoint": "carrier-pigeon"}' });
    const err = await failure(loadRunnerConfig({ root, env: {} }));
    expect(err.code).toBe('BAD_OPTION');
    expect(err.message).toContain('endpoint');
    expect(err.message).toContain('kubecache.config.json');
    const badSeed = project({ 'kubecache.config.json': '{"seeds": {"redis": "data.bin"}}' });
    expect((await failure(loadRunnerConfig({ root: badSeed, env: {} }))).message).toContain(
      '.rdb or *.json',
    );
  });

  it('merges engine sections and maps one level deep', () => {
    expect(
      mergeOptions(
        { engines: { redis: { image: 'a', timeouts: { probeMs: 1 } } }, labels: { team: 'x' } },
        { engines: { redis: { timeouts: { podRunningMs: 2 } } }, labels: { ci: 'y' } },
      ),
    ).toEqual({
      engines: { redis: { image: 'a', timeouts: { probeMs: 1, podRunningMs: 2 } } },
      labels: { team: 'x', ci: 'y' },
    });
  });

  it('turns seed paths and file URLs into absolute seed requests', () => {
    const base = '/work/project';
    expect(toSeedRequest('fixtures/a.rdb', base, 'seed')).toEqual({
      kind: 'rdb',
      path: '/work/project/fixtures/a.rdb',
    });
    expect(toSeedRequest(pathToFileURL('/data/b.json'), base, 'seed')).toEqual({
      kind: 'json',
      path: '/data/b.json',
    });
    expect(toSeedRequest({ kind: 'rdb', path: 'c.dump', transport: 'exec' }, base, 'seed')).toEqual(
      { kind: 'rdb', path: '/work/project/c.dump', transport: 'exec' },
    );
  });
});
