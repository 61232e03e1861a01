import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debugReload } from '../../src/engines/redis/reset.js';
import { isKubecacheError } from '../../src/errors.js';
import { startRedis } from './helpers/local-servers.js';
import {
  datasetDifferences,
  makeRdb,
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
