import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PrestartPool,
  planPrestart,
  prestartFailedSummary,
  readRecord,
  recordOf,
  recordPath,
  writeRecord,
} from '../../src/broker/prestart.js';
import { resolveClusterConfig, validateKubecacheOptions } from '../../src/config/options.js';
import { isKubecacheError, KubecacheError } from '../../src/errors.js';

const seed = { kind: 'json' as const, path: '/p/basic.json' };

describe('recordOf', () => {
  it('counts distinct workers per request shape, ignoring repeats', () => {
    const record = recordOf([
      { engine: 'redis', worker: '1', seed },
      { engine: 'redis', worker: '2', seed },
      { engine: 'redis', worker: '2', seed },
      { engine: 'memcached', worker: '1' },
      { engine: 'redis', worker: '1', name: 'queue' },
    ]);
    expect(record.shapes).toEqual([
      { shape: { engine: 'redis', seed }, workers: 2 },
      { shape: { engine: 'memcached' }, workers: 1 },
      { shape: { engine: 'redis', name: 'queue' }, workers: 1 },
    ]);
  });
});

describe('planPrestart', () => {
  const previous = recordOf([
    { engine: 'redis', worker: '1', seed },
    { engine: 'redis', worker: '2', seed },
    { engine: 'redis', worker: '3', seed },
    { engine: 'memcached', worker: '1' },
  ]);

  it('starts nothing without an option or a previous run', () => {
    expect(planPrestart({ option: undefined, workers: 4, previous: undefined })).toEqual([]);
  });

  it('repeats the previous run, capped at the worker count', () => {
    expect(planPrestart({ option: undefined, workers: 2, previous })).toEqual([
      { shape: { engine: 'redis', seed }, count: 2 },
      { shape: { engine: 'memcached' }, count: 1 },
    ]);
  });

  it("gives 'workers' one pod per worker, shaped like the previous run's requests", () => {
    expect(
      planPrestart({ option: { redis: 'workers', memcached: 2 }, workers: 4, previous }),
    ).toEqual([
      { shape: { engine: 'redis', seed }, count: 4 },
      { shape: { engine: 'memcached' }, count: 2 },
    ]);
  });

  it('uses a plain request for an engine the previous run did not use', () => {
    expect(planPrestart({ option: { redis: 1 }, workers: 4, previous: undefined })).toEqual([
      { shape: { engine: 'redis' }, count: 1 },
    ]);
  });

  it("uses the config's default seed when there is no previous run", () => {
    expect(
      planPrestart({
        option: { memcached: 'workers' },
        workers: 2,
        previous: undefined,
        seeds: { memcached: seed },
      }),
    ).toEqual([{ shape: { engine: 'memcached', seed }, count: 2 }]);
  });

  it('starts nothing when turned off or for zero counts', () => {
    expect(planPrestart({ option: false, workers: 4, previous })).toEqual([]);
    expect(planPrestart({ option: { redis: 0 }, workers: 4, previous })).toEqual([]);
  });
});

describe('run record file', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'kc-prestart-'));
    dirs.push(d);
    return d;
  };

  it('round-trips through node_modules/.cache/kubecache of the project', () => {
    const root = tempDir();
    const outside = recordPath(root, 'k');
    expect(outside.startsWith(tmpdir())).toBe(true);
    expect(outside).not.toContain(join(root, 'node_modules'));
    const modules = join(root, 'node_modules');
    mkdirSync(modules);
    const path = recordPath(root, 'k');
    expect(path.startsWith(join(modules, '.cache', 'kubecache'))).toBe(true);
    expect(recordPath(root, 'other config')).not.toBe(path);
    const record = recordOf([{ engine: 'redis', worker: '1' }]);
    writeRecord(path, record);
    expect(readRecord(path)).toEqual(record);
  });

  it('treats a missing, corrupt or foreign file as no record and drops bad entries', () => {
    const dir = tempDir();
    const path = join(dir, 'r.json');
    expect(readRecord(path)).toBeUndefined();
    writeFileSync(path, '{not json');
    expect(readRecord(path)).toBeUndefined();
    writeFileSync(path, JSON.stringify({ version: 2, shapes: [] }));
    expect(readRecord(path)).toBeUndefined();
    writeFileSync(
      path,
      JSON.stringify({
        version: 1,
        shapes: [
          { shape: { engine: 'redis' }, workers: 2 },
          { shape: { engine: 'mysql' }, workers: 1 },
          { shape: { engine: 'memcached' }, workers: -1 },
        ],
      }),
    );
    expect(readRecord(path)).toEqual({
      version: 1,
      shapes: [{ shape: { engine: 'redis' }, workers: 2 }],
    });
    expect(JSON.parse(readFileSync(path, 'utf8')).version).toBe(1);
  });
});

describe('PrestartPool', () => {
  it('hands out pods of a key in order, once each, and drains the rest', async () => {
    const pool = new PrestartPool<string>();
    pool.add('redis', Promise.resolve('a'));
    pool.add('redis', Promise.resolve('b'));
    pool.add('memcached', Promise.resolve('c'));
    expect(await pool.take('redis')).toBe('a');
    expect(pool.take('other')).toBeUndefined();
    expect(await Promise.all(pool.drain())).toEqual(['b', 'c']);
    expect(pool.take('redis')).toBeUndefined();
    expect(pool.started).toBe(3);
  });
});

describe('prestart and reuse options', () => {
  it('accepts counts, workers and false, and rejects the rest naming the path', () => {
    expect(validateKubecacheOptions({ prestart: { redis: 'workers', memcached: 2 } })).toEqual({
      prestart: { redis: 'workers', memcached: 2 },
    });
    expect(validateKubecacheOptions({ prestart: false })).toEqual({ prestart: false });
    for (const bad of [{ redis: 'all' }, { mysql: 1 }, { redis: -1 }, true]) {
      try {
        validateKubecacheOptions({ prestart: bad });
        expect.unreachable();
      } catch (err) {
        expect(isKubecacheError(err, 'BAD_OPTION')).toBe(true);
        expect((err as Error).message).toContain('prestart');
      }
    }
  });

  it('resolves reuse from options and KUBECACHE_REUSE, idle time defaulting to 30 minutes', () => {
    expect(resolveClusterConfig({ env: {} })).toMatchObject({
      reuse: false,
      reuseIdleSeconds: 1800,
    });
    expect(
      resolveClusterConfig({ global: { reuse: true, reuseIdleSeconds: 60 }, env: {} }),
    ).toMatchObject({ reuse: true, reuseIdleSeconds: 60 });
    expect(
      resolveClusterConfig({
        global: { reuse: false },
        env: { KUBECACHE_REUSE: '1', KUBECACHE_REUSE_IDLE_SECONDS: '5' },
      }),
    ).toMatchObject({ reuse: true, reuseIdleSeconds: 5 });
    expect(() => resolveClusterConfig({ env: { KUBECACHE_REUSE: 'yes' } })).toThrow(
      /KUBECACHE_REUSE/,
    );
  });
});

describe("PrestartPool between a daemon's runs", () => {
  it('counts only the pods started for the run, sizes a key, and resets for the next run', async () => {
    const pool = new PrestartPool<string>();
    pool.add('redis', Promise.resolve('warm'), { counted: false });
    pool.add('redis', Promise.resolve('new'));
    expect(pool.size('redis')).toBe(2);
    expect(pool.size('memcached')).toBe(0);
    expect(pool.started).toBe(1);
    expect(await pool.take('redis')).toBe('warm');
    pool.adopted += 1;
    pool.reset();
    expect([pool.size('redis'), pool.started, pool.adopted]).toEqual([0, 0, 0]);
    expect(pool.take('redis')).toBeUndefined();
  });
});

describe('PrestartPool at teardown', () => {
  it('settles once every counted start has, the ones taken included', async () => {
    const pool = new PrestartPool<string>();
    let finish = (_v: string): void => {};
    pool.add(
      'redis',
      new Promise<string>((r) => {
        finish = r;
      }),
    );
    pool.add('redis', Promise.resolve('warm'), { counted: false });
    const taken = pool.take('redis');
    expect(taken).toBeDefined();
    expect(pool.size('redis')).toBe(1);
    let settled = false;
    const done = pool.settled().then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    finish('started');
    await done;
    expect(settled).toBe(true);
  });
});

describe('the prestart summary for starts that failed', () => {
  it('says each pod was deleted when it failed, with the first reason and its next step', () => {
    const pull = new KubecacheError(
      'IMAGE_PULL',
      'pod kc-redis-pre1-x: container redis: image redis:nope cannot be pulled (ErrImagePull: not found)\n  events:\n    Warning Failed: ...\n  next: check the image name and tag',
    );
    expect(prestartFailedSummary(2, pull)).toBe(
      '2 failed to start, and each pod was deleted when it failed. First failure: [IMAGE_PULL] pod kc-redis-pre1-x: container redis: image redis:nope cannot be pulled (ErrImagePull: not found); next: check the image name and tag',
    );
    expect(prestartFailedSummary(1, new Error('fixture unreadable'))).toBe(
      '1 failed to start, and its pod was deleted when it failed. First failure: fixture unreadable',
    );
    expect(prestartFailedSummary(1, undefined)).toBe(
      '1 failed to start, and its pod was deleted when it failed',
    );
  });
});
