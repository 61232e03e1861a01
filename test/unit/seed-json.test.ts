import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  closeMemcachedClient,
  createMemcachedClient,
  type MemcachedClient,
} from '../../src/engines/memcached/client.js';
import {
  applyMemcachedJsonSeed,
  loadMemcachedJsonSeed,
  parseMemcachedJsonSeed,
} from '../../src/engines/memcached/seed.js';
import {
  applyRedisJsonSeed,
  loadRedisJsonSeed,
  parseRedisJsonSeed,
} from '../../src/engines/redis/seed.js';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import { type LocalServer, startMemcached, startRedis } from './helpers/local-servers.js';
import { CLIENT_KINDS, removeDir, tempDir, withClient, withResp } from './seed-fixtures/dataset.js';

let redis: LocalServer;
let memcached: LocalServer;
let memjs: MemcachedClient;
let dir: string;

beforeAll(async () => {
  [redis, memcached, dir] = await Promise.all([startRedis(), startMemcached(), tempDir()]);
  memjs = createMemcachedClient(memcached);
});

afterAll(async () => {
  if (memjs) await closeMemcachedClient(memjs);
  await Promise.all([redis?.stop(), memcached?.stop(), removeDir(dir)]);
});

beforeEach(async () => {
  await withClient(redis, (client) => client.flushall());
});

function parseError(fn: () => unknown): KubecacheError {
  try {
    fn();
  } catch (err) {
    expect(isKubecacheError(err, 'BAD_FIXTURE'), String(err)).toBe(true);
    return err as KubecacheError;
  }
  throw new Error('expected BAD_FIXTURE');
}

describe('parseRedisJsonSeed', () => {
  it('normalises every form', () => {
    const seed = parseRedisJsonSeed(
      JSON.stringify({
        plain: 'text',
        typed: { type: 'string', value: 'v', ttl: 1.5 },
        h: { type: 'hash', value: { a: '1', b: '' } },
        l: { type: 'list', value: ['x', 'x'] },
        s: { type: 'set', value: ['y'] },
        z1: {
          type: 'zset',
          value: [
            [1, 'one'],
            ['-inf', 'low'],
          ],
        },
        z2: { type: 'zset', value: { m: 2, top: 'inf' } },
      }),
      'seed.json',
    );
    expect(seed.source).toBe('seed.json');
    expect(seed.entries).toEqual([
      { key: 'plain', type: 'string', value: 'text' },
      { key: 'typed', type: 'string', value: 'v', ttl: 1.5 },
      {
        key: 'h',
        type: 'hash',
        value: [
          ['a', '1'],
          ['b', ''],
        ],
      },
      { key: 'l', type: 'list', value: ['x', 'x'] },
      { key: 's', type: 'set', value: ['y'] },
      {
        key: 'z1',
        type: 'zset',
        value: [
          [1, 'one'],
          [Number.NEGATIVE_INFINITY, 'low'],
        ],
      },
      {
        key: 'z2',
        type: 'zset',
        value: [
          [2, 'm'],
          [Number.POSITIVE_INFINITY, 'top'],
        ],
      },
    ]);
  });

  it('names the file and the key path in every error', () => {
    const cases: Array<[unknown, RegExp]> = [
      [[], /f\.json: the top level must be an object, got an array/],
      [{ k: true }, /f\.json: key "k" must be an object, got boolean true/],
      [{ k: { type: 'stream', value: [] } }, /key "k"\.value must be an array of entries/],
      [{ k: { type: 'geo', value: [] } }, /key "k"\.type must be one of string, hash/],
      [{ k: { value: 'x' } }, /key "k" has no "type"\. It looks like a memcached fixture/],
      [
        { k: { name: 'ada' } },
        /key "k" is an object without "type"\. To store it as a redis hash, write \{"k":\{"type":"hash","value":\{"name":"ada"\}\}\}/,
      ],
      [
        { k: { type: 'string', value: true } },
        /key "k"\.value must be a string or a number, got boolean true/,
      ],
      [{ k: { type: 'string', value: 'v', tll: 5 } }, /key "k" has unknown field\(s\) "tll"/],
      [{ k: { type: 'hash', value: { a: null } } }, /key "k"\.value\["a"\] must be a string/],
      [{ k: { type: 'hash', value: ['a'] } }, /key "k"\.value must be an object, got an array/],
      [{ k: { type: 'hash', value: {} } }, /key "k"\.value is an empty object; redis cannot/],
      [{ k: { type: 'list', value: 'a' } }, /key "k"\.value must be an array of strings/],
      [
        { k: { type: 'list', value: ['a', null] } },
        /key "k"\.value\[1\] must be a string or a number, got null/,
      ],
      [{ k: { type: 'set', value: [] } }, /key "k"\.value is an empty array/],
      [
        { k: { type: 'zset', value: [[1]] } },
        /key "k"\.value\[0\] must be a \[score, member\] pair/,
      ],
      [{ k: { type: 'zset', value: [['x', 'm']] } }, /key "k"\.value\[0\]\[0\] must be a number/],
      [{ k: { type: 'zset', value: { m: null } } }, /key "k"\.value\["m"\] must be a number/],
      [{ k: { type: 'zset', value: 3 } }, /key "k"\.value must be an array of \[score, member\]/],
      [{ k: { type: 'string', value: 'v', ttl: 0 } }, /key "k"\.ttl must be a positive number/],
      [{ k: { type: 'string', value: 'v', ttl: '5' } }, /key "k"\.ttl must be a positive number/],
    ];
    for (const [input, message] of cases) {
      const err = parseError(() => parseRedisJsonSeed(JSON.stringify(input), 'f.json'));
      expect(err.message, JSON.stringify(input)).toMatch(message);
      expect(err.details.source).toBe('f.json');
    }
  });

  it('reports JSON syntax errors with the file name', () => {
    const err = parseError(() => parseRedisJsonSeed('{"a": ', 'broken.json'));
    expect(err.message).toMatch(/^\[BAD_FIXTURE\] broken\.json is not valid JSON: /);
  });

  it('tolerates a byte order mark', () => {
    expect(parseRedisJsonSeed('\uFEFF{"a":"b"}', 'bom.json').entries).toHaveLength(1);
  });
});

describe.each(CLIENT_KINDS)('applyRedisJsonSeed over %s', (kind) => {
  it('writes every type with TTLs and replaces what was there', async () => {
    const seed = parseRedisJsonSeed(
      JSON.stringify({
        str: 'v',
        // JSON.parse makes "__proto__" an ordinary field; it must reach redis as one.
        h: { type: 'hash', value: JSON.parse('{"a": "1", "__proto__": "x"}'), ttl: 60 },
        l: { type: 'list', value: ['b', 'a', 'b'] },
        s: { type: 'set', value: ['x', 'y'], ttl: 0.25 },
        z: {
          type: 'zset',
          value: [
            [1.5, 'one'],
            ['-inf', 'low'],
            ['inf', 'high'],
          ],
        },
      }),
      'apply.json',
    );
    await withResp(redis, kind, async (resp, client) => {
      // Stale values of other types under the same keys must not cause WRONGTYPE.
      await client.rpush('str', 'old');
      await client.set('l', 'old');
      await client.sadd('s', 'stale');
      await applyRedisJsonSeed(resp, seed);
      // Read first, while the 0.25 s key lives: -1 (no TTL) and -2 (gone) are not > 0.
      const sTtl = await client.pttl('s');
      expect(await client.get('str')).toBe('v');
      expect(await client.hget('h', 'a')).toBe('1');
      expect(await client.hget('h', '__proto__')).toBe('x');
      expect(await client.hlen('h')).toBe(2);
      expect(await client.lrange('l', 0, -1)).toEqual(['b', 'a', 'b']);
      expect((await client.smembers('s')).sort()).toEqual(['x', 'y']);
      expect(await client.zrange('z', 0, -1, 'WITHSCORES')).toEqual([
        'low',
        '-inf',
        'one',
        '1.5',
        'high',
        'inf',
      ]);
      expect(await client.pttl('str')).toBe(-1);
      const hTtl = await client.pttl('h');
      expect(hTtl).toBeGreaterThan(59_000);
      expect(hTtl).toBeLessThanOrEqual(60_000);
      expect(sTtl).toBeGreaterThan(0);
      expect(sTtl).toBeLessThanOrEqual(250);
    });
  });

  it('loads the committed basic.json fixture', async () => {
    const seed = await loadRedisJsonSeed('test/fixtures/basic.json');
    expect(seed.source).toBe(resolve('test/fixtures/basic.json'));
    await withResp(redis, kind, async (resp, client) => {
      await applyRedisJsonSeed(resp, seed);
      expect(await client.dbsize()).toBe(seed.entries.length);
      for (const type of ['string', 'hash', 'list', 'set', 'zset'] as const) {
        expect(seed.entries.filter((e) => e.type === type).length).toBeGreaterThanOrEqual(10);
      }
    });
  });

  it('turns a failed redis write into an UNREACHABLE error naming the source', async () => {
    const down = await startRedis();
    const seed = parseRedisJsonSeed('{"a":"b"}', 'x.json');
    // Connected first (node-redis connects eagerly), then the server goes away.
    await withResp(down, kind, async (resp) => {
      await down.stop();
      const err = await applyRedisJsonSeed(resp, seed).catch((e: unknown) => e);
      expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
      expect((err as Error).message).toContain('x.json');
    });
  });
});

describe('memcached JSON seeds', () => {
  it('parses both forms and validates keys and TTLs', () => {
    expect(
      parseMemcachedJsonSeed('{"a": "1", "b": {"value": "2", "ttl": 10}}', 'm.json').entries,
    ).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '2', ttl: 10 },
    ]);
    const cases: Array<[unknown, RegExp]> = [
      [{ 'has space': 'x' }, /key "has space" contains whitespace or control characters/],
      [{ ['k'.repeat(251)]: 'x' }, /is 251 bytes long; memcached keys must be 1 to 250 bytes/],
      [{ '': 'x' }, /is 0 bytes long/],
      [{ a: true }, /key "a" must be an object, got boolean true/],
      [{ a: { value: null } }, /key "a"\.value must be a string or a number/],
      [{ a: { value: 'x', ttl: 1.5 } }, /key "a"\.ttl must be a positive whole number of seconds/],
      [
        { a: { value: 'x', type: 'string' } },
        /has a "type" \(the string "string"\): this looks like a redis fixture/,
      ],
    ];
    for (const [input, message] of cases) {
      expect(
        parseError(() => parseMemcachedJsonSeed(JSON.stringify(input), 'm.json')).message,
      ).toMatch(message);
    }
  });

  it('writes values with expiries, including ones beyond 30 days', async () => {
    const seed = parseMemcachedJsonSeed(
      JSON.stringify({
        plain: 'p',
        short: { value: 's', ttl: 1 },
        // memcached reads more than 30 days as a timestamp; sent raw it would
        // be a moment in 1970 and the item would vanish at once.
        long: { value: 'l', ttl: 40 * 24 * 3600 },
      }),
      'm.json',
    );
    await applyMemcachedJsonSeed(memjs, seed);
    expect((await memjs.get('plain')).value?.toString()).toBe('p');
    expect((await memjs.get('long')).value?.toString()).toBe('l');
    expect((await memjs.get('short')).value?.toString()).toBe('s');
    await new Promise((r) => setTimeout(r, 2100));
    expect((await memjs.get('short')).value).toBeNull();
    expect((await memjs.get('long')).value?.toString()).toBe('l');
  });

  it('loads the committed memcached.json fixture', async () => {
    const seed = await loadMemcachedJsonSeed('test/fixtures/memcached.json');
    await applyMemcachedJsonSeed(memjs, seed);
    // An empty parse would make the loop below check nothing.
    expect(seed.entries.length).toBeGreaterThan(0);
    for (const { key, value } of seed.entries) {
      expect((await memjs.get(key)).value?.toString()).toBe(value);
    }
  });

  it('reports a value the server refuses', async () => {
    const seed = parseMemcachedJsonSeed(
      JSON.stringify({ huge: 'x'.repeat(2 * 1024 * 1024) }),
      'big.json',
    );
    const err = await applyMemcachedJsonSeed(memjs, seed).catch((e: unknown) => e);
    expect(isKubecacheError(err, 'BAD_FIXTURE'), String(err)).toBe(true);
    expect((err as Error).message).toContain('"huge"');
    expect((err as Error).message).toMatch(/-I/);
  });
});

describe('loading a JSON seed file', () => {
  it('reports missing files, directories and bad JSON as BAD_FIXTURE', async () => {
    const missing = join(dir, 'missing.json');
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{ "a": ');
    for (const [path, message] of [
      [missing, /not found/],
      [dir, /not a regular file/],
      [bad, /is not valid JSON/],
    ] as const) {
      const err = await loadRedisJsonSeed(path).catch((e: unknown) => e);
      expect(isKubecacheError(err, 'BAD_FIXTURE'), String(err)).toBe(true);
      expect((err as Error).message).toContain(path);
      expect((err as Error).message).toMatch(message);
    }
  });
});
