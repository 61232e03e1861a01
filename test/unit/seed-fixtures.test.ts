import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ioredisCommander } from '../../src/engines/redis/commander.js';
import { applyRedisJsonSeed, loadRedisJsonSeed } from '../../src/engines/redis/seed.js';
import { validateRdbFixture } from '../../src/seed/rdb-file.js';
import { startRedis } from './helpers/local-servers.js';
import {
  datasetDifferences,
  type KeySnapshot,
  readDataset,
  removeDir,
  run,
  startRedisFromRdb,
  tempDir,
  withClient,
} from './seed-fixtures/dataset.js';

const BASIC_RDB = resolve('test/fixtures/basic.rdb');
const BASIC_JSON = resolve('test/fixtures/basic.json');
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

let dir: string;
let fromJson: Map<string, KeySnapshot>;

beforeAll(async () => {
  dir = await tempDir();
  const server = await startRedis();
  try {
    const seed = await loadRedisJsonSeed(BASIC_JSON);
    fromJson = await withClient(server, async (client) => {
      await applyRedisJsonSeed(ioredisCommander(client), seed);
      return readDataset(client);
    });
  } finally {
    await server.stop();
  }
});

afterAll(async () => {
  await removeDir(dir);
});

/** The RDB's expiries are absolute (set when it was made), so compare "far away" only. */
function sameData(expected: Map<string, KeySnapshot>, actual: Map<string, KeySnapshot>): string[] {
  const coarse = (m: Map<string, KeySnapshot>) =>
    new Map(
      [...m].map(([k, v]) => [
        k,
        { ...v, pttl: v.pttl < 0 ? v.pttl : v.pttl > TEN_YEARS_MS ? 1 : 0 },
      ]),
    );
  return datasetDifferences(coarse(expected), coarse(actual), 0);
}

describe('committed fixtures', () => {
  it('basic.rdb is a small RDB 10 file that redis 7.0 loads', async () => {
    const info = await validateRdbFixture(BASIC_RDB);
    expect(info.rdbVersion).toBe(10);
    expect(info.size).toBeLessThan(10 * 1024);
  });

  it('basic.json has at least ten keys of every type, some expiring far ahead', () => {
    const types = new Map<string, number>();
    for (const { type } of fromJson.values()) types.set(type, (types.get(type) ?? 0) + 1);
    for (const type of ['string', 'hash', 'list', 'set', 'zset']) {
      expect(types.get(type), type).toBeGreaterThanOrEqual(10);
    }
    const far = [...fromJson.values()].filter((k) => k.pttl > TEN_YEARS_MS);
    expect(far.length).toBeGreaterThanOrEqual(5);
  });

  it('basic.rdb holds exactly the data of basic.json', async () => {
    const server = await startRedisFromRdb(BASIC_RDB);
    try {
      const fromRdb = await withClient(server, readDataset);
      expect(sameData(fromJson, fromRdb)).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('make-basic-rdb.sh regenerates an equivalent file', async () => {
    const out = join(dir, 'regenerated.rdb');
    // The script's inline converter needs node; use the one running the tests.
    const path = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
    const result = await run(['sh', 'test/fixtures/make-basic-rdb.sh', out], {
      env: { ...process.env, PATH: path },
    });
    expect(result.code, result.stderr).toBe(0);
    expect((await validateRdbFixture(out)).rdbVersion).toBe(10);
    const server = await startRedisFromRdb(out);
    try {
      expect(sameData(fromJson, await withClient(server, readDataset))).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
