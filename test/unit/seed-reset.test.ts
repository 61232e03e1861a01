import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureDumps, debugReload, restoreDumps } from '../../src/engines/redis/reset.js';
import { isKubecacheError } from '../../src/errors.js';
import { startRedis } from './helpers/local-servers.js';
import {
  CLIENT_KINDS,
  datasetDifferences,
  makeRdb,
  populateAllTypes,
  readDataset,
  removeDir,
  startRedisFromRdb,
  tempDir,
  withResp,
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

describe.each(CLIENT_KINDS)('captureDumps / restoreDumps over %s', (kind) => {
  it('brings every type and TTL back after a test changed them', async () => {
    const server = await startRedis();
    try {
      await withResp(server, kind, async (resp, client) => {
        await populateAllTypes(client);
        const before = await readDataset(client);
        const dumps = await captureDumps(resp);
        expect(dumps.length).toBe(before.size);
        expect(dumps.find((d) => d.key.toString() === 'str:short')?.pttl).toBe(0);
        expect(dumps.find((d) => d.key.toString() === 'str:ttl')?.pttl).toBeGreaterThan(3_500_000);

        await scribble(client);
        expect(datasetDifferences(before, await readDataset(client), 2000)).not.toEqual([]);

        await restoreDumps(resp, dumps);
        expect(datasetDifferences(before, await readDataset(client), 2000)).toEqual([]);

        // Restoring twice from the same capture is just as exact.
        await scribble(client);
        await restoreDumps(resp, dumps);
        expect(datasetDifferences(before, await readDataset(client), 2000)).toEqual([]);
      });
    } finally {
      await server.stop();
    }
  });

  it('handles an empty database and many keys', async () => {
    const server = await startRedis();
    try {
      await withResp(server, kind, async (resp, client) => {
        expect(await captureDumps(resp)).toEqual([]);
        await client.set('x', '1');
        await restoreDumps(resp, []);
        expect(await client.dbsize()).toBe(0);

        const p = client.pipeline();
        for (let i = 0; i < 5000; i++) p.set(`k:${i}`, String(i));
        await p.exec();
        const dumps = await captureDumps(resp);
        expect(dumps).toHaveLength(5000);
        await client.flushall();
        await restoreDumps(resp, dumps);
        expect(await client.dbsize()).toBe(5000);
        expect(await client.get('k:4321')).toBe('4321');
      });
    } finally {
      await server.stop();
    }
    // 10,000 commands each way; the shared CI machine can be slow.
  }, 30_000);

  it('reports a payload the server cannot load', async () => {
    const server = await startRedis();
    try {
      await withResp(server, kind, async (resp) => {
        const err = await restoreDumps(resp, [
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

describe.each(CLIENT_KINDS)('debugReload over %s', (kind) => {
  it('reloads the RDB redis started from', async () => {
    const rdb = join(dir, 'reload.rdb');
    await makeRdb(rdb);
    const server = await startRedisFromRdb(rdb, ['--enable-debug-command', 'yes']);
    try {
      await withResp(server, kind, async (resp, client) => {
        const before = await readDataset(client);
        await scribble(client);
        await debugReload(resp);
        expect(datasetDifferences(before, await readDataset(client), 2000)).toEqual([]);
      });
    } finally {
      await server.stop();
    }
  });

  it('explains how to enable DEBUG when redis refuses it', async () => {
    const server = await startRedis(['--enable-debug-command', 'no']);
    try {
      await withResp(server, kind, async (resp) => {
        const err = await debugReload(resp).catch((e: unknown) => e);
        expect(isKubecacheError(err, 'BAD_OPTION'), String(err)).toBe(true);
        expect((err as Error).message).toContain('--enable-debug-command yes');
      });
    } finally {
      await server.stop();
    }
  });
});
