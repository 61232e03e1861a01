import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeMemcachedClient, createMemcachedClient } from '../../src/engines/memcached/client.js';
import { resetMemcached } from '../../src/engines/memcached/reset.js';
import { parseMemcachedJsonSeed } from '../../src/engines/memcached/seed.js';
import { captureDumps, debugReload, restoreDumps } from '../../src/engines/redis/reset.js';
import { isKubecacheError } from '../../src/errors.js';
import { type LocalServer, startMemcached, startRedis } from './helpers/local-servers.js';
import {
  datasetDifferences,
  makeRdb,
  populateAllTypes,
  readDataset,
  removeDir,
  startRedisFromRdb,
  tempDir,
  withClient,
} from './seed-fixtures/dataset.js';

let dir: string;

beforeAll(async () => {
  dir = await tempDir();
});

afterAll(async () => {
  await removeDir(dir);
});

/** Changes every kind of thing a test might change, so a reset has work to undo. */
async function scribble(client: import('ioredis').Redis): Promise<void> {
  await client.del('str:short', 'hash:big');
  await client.set('str:int', 'changed');
  await client.persist('str:ttl');
  await client.expire('str:far', 5);
  await client.rpush('list:small', 'extra');
  await client.zincrby('zset:small', 5, 'one');
  await client.xadd('stream:events', '*', 'kind', 'added');
  await client.set('new:key', 'should vanish');
  await client.hset('new:hash', 'f', 'v');
}

describe('captureDumps / restoreDumps', () => {
  it('brings every type and TTL back after a test changed them', async () => {
    const server = await startRedis();
    try {
      await withClient(server, async (client) => {
        await populateAllTypes(client);
        const before = await readDataset(client);
        const dumps = await captureDumps(client);
        expect(dumps.length).toBe(before.size);
        expect(dumps.find((d) => d.key.toString() === 'str:short')?.pttl).toBe(0);
        expect(dumps.find((d) => d.key.toString() === 'str:ttl')?.pttl).toBeGreaterThan(3_500_000);

        await scribble(client);
        expect(datasetDifferences(before, await readDataset(client), 2000)).not.toEqual([]);

        await restoreDumps(client, dumps);
        expect(datasetDifferences(before, await readDataset(client), 2000)).toEqual([]);

        // Restoring twice from the same capture is just as exact.
        await scribble(client);
        await restoreDumps(client, dumps);
        expect(datasetDifferences(before, await readDataset(client), 2000)).toEqual([]);
      });
    } finally {
      await server.stop();
    }
  });

  it('handles an empty database and many keys', async () => {
    const server = await startRedis();
    try {
      await withClient(server, async (client) => {
        expect(await captureDumps(client)).toEqual([]);
        await client.set('x', '1');
        await restoreDumps(client, []);
        expect(await client.dbsize()).toBe(0);

        const p = client.pipeline();
        for (let i = 0; i < 5000; i++) p.set(`k:${i}`, String(i));
        await p.exec();
        const dumps = await captureDumps(client);
        expect(dumps).toHaveLength(5000);
        await client.flushall();
        await restoreDumps(client, dumps);
        expect(await client.dbsize()).toBe(5000);
        expect(await client.get('k:4321')).toBe('4321');
      });
    } finally {
      await server.stop();
    }
  });

  it('reports a payload the server cannot load', async () => {
    const server = await startRedis();
    try {
      await withClient(server, async (client) => {
        const err = await restoreDumps(client, [
          { key: Buffer.from('bad'), payload: Buffer.from('garbage'), pttl: 0 },
        ]).catch((e: unknown) => e);
        expect(isKubecacheError(err)).toBe(true);
        expect((err as Error).message).toMatch(/Restoring key "bad" failed/);
      });
    } finally {
      await server.stop();
    }
  });
});

describe('debugReload', () => {
  it('reloads the RDB redis started from', async () => {
    const rdb = join(dir, 'reload.rdb');
    await makeRdb(rdb);
    const server = await startRedisFromRdb(rdb, ['--enable-debug-command', 'yes']);
    try {
      await withClient(server, async (client) => {
        const before = await readDataset(client);
        await scribble(client);
        await debugReload(client);
        expect(datasetDifferences(before, await readDataset(client), 2000)).toEqual([]);
      });
    } finally {
      await server.stop();
    }
  });

  it('explains how to enable DEBUG when redis refuses it', async () => {
    const server = await startRedis(['--enable-debug-command', 'no']);
    try {
      await withClient(server, async (client) => {
        const err = await debugReload(client).catch((e: unknown) => e);
        expect(isKubecacheError(err, 'BAD_OPTION'), String(err)).toBe(true);
        expect((err as Error).message).toContain('--enable-debug-command yes');
      });
    } finally {
      await server.stop();
    }
  });
});

describe('resetMemcached', () => {
  it('flushes and writes the seed again', async () => {
    const server: LocalServer = await startMemcached();
    const client = createMemcachedClient(server);
    try {
      const seed = parseMemcachedJsonSeed(
        JSON.stringify({ a: '1', b: { value: '2', ttl: 3600 } }),
        'm.json',
      );
      await resetMemcached(client, seed);
      await client.set('a', 'changed', { expires: 0 });
      await client.delete('b');
      await client.set('extra', 'x', { expires: 0 });
      await resetMemcached(client, seed);
      expect((await client.get('a')).value?.toString()).toBe('1');
      expect((await client.get('b')).value?.toString()).toBe('2');
      expect((await client.get('extra')).value).toBeNull();
    } finally {
      await closeMemcachedClient(client);
      await server.stop();
    }
  });
});
