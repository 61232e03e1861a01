import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRdb } from '../../src/cli/check.js';
import { loadRedisJsonSeed } from '../../src/engines/redis/seed.js';
import { Crc64 } from '../../src/seed/crc64.js';
import { lzfDecompress, summarizeRdb } from '../../src/seed/rdb-summary.js';
import {
  makeRdb,
  readDataset,
  removeDir,
  startRedisFromRdb,
  tempDir,
  withClient,
} from './seed-fixtures/dataset.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;
let allTypes: string;

beforeAll(async () => {
  dir = await tempDir('kubecache-summary-');
  allTypes = join(dir, 'all-types.rdb');
  await makeRdb(allTypes);
});

afterAll(async () => {
  await removeDir(dir);
});

function countTypes(types: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of types) out[t] = (out[t] ?? 0) + 1;
  return out;
}

describe('summarizeRdb', () => {
  it('counts the keys, types and TTLs of basic.rdb as basic.json declares them', async () => {
    const summary = await summarizeRdb(join(repo, 'test/fixtures/basic.rdb'));
    const json = await loadRedisJsonSeed(join(repo, 'test/fixtures/basic.json'));
    expect(summary.complete).toBe(true);
    expect(summary.rdbVersion).toBe(10);
    expect(summary.keys).toBe(json.entries.length);
    expect(summary.types).toEqual(countTypes(json.entries.map((e) => e.type)));
    expect(summary.expiring).toBe(json.entries.filter((e) => e.ttl !== undefined).length);
    expect(summary.databases).toEqual({ 0: json.entries.length });
    expect(summary.aux['redis-ver']).toBe('7.0.15');
    expect(summary.storedChecksum).toMatch(/^0x[0-9a-f]{16}$/);
  });

  it('agrees with redis itself on every type and encoding, at any read chunk size', async () => {
    // What redis reports after loading the same file is the reference.
    const server = await startRedisFromRdb(allTypes);
    let expected: { types: Record<string, number>; keys: number; expiring: number };
    try {
      expected = await withClient(server, async (client) => {
        const data = await readDataset(client);
        const values = [...data.values()];
        return {
          keys: values.length,
          types: countTypes(values.map((v) => v.type)),
          expiring: values.filter((v) => v.pttl >= 0).length,
        };
      });
    } finally {
      await server.stop();
    }
    for (const chunk of [1, 7, 64, 1 << 20]) {
      const summary = await summarizeRdb(allTypes, { readChunkBytes: chunk });
      expect(summary.complete, summary.note).toBe(true);
      expect({ keys: summary.keys, types: summary.types, expiring: summary.expiring }).toEqual(
        expected,
      );
    }
    expect(expected.types.stream).toBe(1);
  });

  it('says where it stopped on a record type it does not know, keeping the counts before it', async () => {
    const bytes = await readFile(join(repo, 'test/fixtures/basic.rdb'));
    // Replace the first key's type byte (after SELECTDB 0 and RESIZEDB) with an unknown one.
    const selectDb = bytes.indexOf(Buffer.from([0xfe, 0x00, 0xfb]));
    const firstType = selectDb + 5;
    const broken = Buffer.from(bytes);
    broken[firstType] = 0xee;
    const path = join(dir, 'unknown-type.rdb');
    await writeFile(path, broken);
    const summary = await summarizeRdb(path);
    expect(summary.complete).toBe(false);
    expect(summary.keys).toBe(0);
    expect(summary.note).toContain('unknown record type 0xee');
  });

  it('reads a Valkey 9 file (VALKEY080), which kubecache check used to call "not an RDB file"', async () => {
    // One string key "k" = "v" in database 0, then EOF and a valid CRC-64.
    const body = Buffer.concat([
      Buffer.from('VALKEY080'),
      Buffer.from([0xfe, 0x00, 0x00, 0x01, 0x6b, 0x01, 0x76, 0xff]),
    ]);
    const crc = new Crc64();
    crc.update(body, 0, body.length);
    const sum = Buffer.alloc(8);
    sum.writeBigUInt64LE(crc.digest());
    const path = join(dir, 'valkey9.rdb');
    await writeFile(path, Buffer.concat([body, sum]));
    const summary = await summarizeRdb(path);
    expect(summary).toMatchObject({
      rdbVersion: 80,
      keys: 1,
      types: { string: 1 },
      complete: true,
    });
    const report = await checkRdb(path, { maxRdbVersion: 80 });
    expect(report).toMatchObject({ ok: true, magic: 'VALKEY', rdbVersion: 80, keys: 1 });
    // With the default limit (redis 7.0) it is refused, with the flag that fits a Valkey 9 image.
    const strict = await checkRdb(path, {});
    expect(strict.ok).toBe(false);
    expect(strict.problems.join(' ')).toContain('check with --max-rdb-version 80');
  });

  it('refuses a file without the RDB magic', async () => {
    const path = join(dir, 'not.rdb');
    await writeFile(path, 'hello world, not redis');
    await expect(summarizeRdb(path)).rejects.toMatchObject({ code: 'BAD_FIXTURE' });
  });
});

describe('lzfDecompress', () => {
  it('expands literals and back references as redis writes them', () => {
    // "abcabcabc": literal run of 3 ("abc"), then a back reference of length 6 at distance 3.
    const input = Buffer.from([0x02, 0x61, 0x62, 0x63, (4 << 5) | 0, 0x02]);
    expect(lzfDecompress(input, 9).toString()).toBe('abcabcabc');
  });

  it('rejects a back reference before the start of the output', () => {
    expect(() => lzfDecompress(Buffer.from([0x20, 0x05]), 4)).toThrow(/corrupt LZF/);
  });
});
