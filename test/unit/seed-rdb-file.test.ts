import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import { Crc64, crc64 } from '../../src/seed/crc64.js';
import { FixtureRegistry, validateRdbFixture } from '../../src/seed/rdb-file.js';
import { startRedis } from './helpers/local-servers.js';
import { makeRdb, removeDir, tempDir, withClient } from './seed-fixtures/dataset.js';

let dir: string;
let rdb: string;
let rdbBytes: Buffer;

beforeAll(async () => {
  dir = await tempDir();
  rdb = join(dir, 'all-types.rdb');
  await makeRdb(rdb);
  rdbBytes = await readFile(rdb);
});

afterAll(async () => {
  await removeDir(dir);
});

async function badFixture(promise: Promise<unknown>): Promise<KubecacheError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isKubecacheError(err, 'BAD_FIXTURE'), `expected BAD_FIXTURE, got ${String(err)}`).toBe(
    true,
  );
  return err as KubecacheError;
}

async function variant(name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** A structurally minimal RDB: header, opaque body, EOF opcode and (from v5) a CRC-64. */
function syntheticRdb(version: number, body: Buffer, checksum: 'crc' | 'zero' | 'none'): Buffer {
  const head = Buffer.concat([
    Buffer.from(`REDIS${String(version).padStart(4, '0')}`, 'latin1'),
    body,
    Buffer.from([0xff]),
  ]);
  if (checksum === 'none') return head;
  const sum = Buffer.alloc(8);
  if (checksum === 'crc') sum.writeBigUInt64LE(crc64(head));
  return Buffer.concat([head, sum]);
}

describe('crc64 (Jones, reflected)', () => {
  it('matches the published check value', () => {
    expect(crc64(Buffer.from('123456789')).toString(16)).toBe('e9c6d914c4b8d9ca');
    expect(crc64(Buffer.alloc(0))).toBe(0n);
  });

  it('gives the same result however the input is chunked', () => {
    const data = randomBytes(10_000);
    const whole = crc64(data);
    for (const size of [1, 7, 64, 4099]) {
      const crc = new Crc64();
      for (let i = 0; i < data.length; i += size) crc.update(data.subarray(i, i + size));
      expect(crc.digest()).toBe(whole);
    }
  });

  it('agrees with the checksum redis appends to DUMP payloads', async () => {
    const server = await startRedis();
    try {
      await withClient(server, async (client) => {
        await client.rpush('list', ...Array.from({ length: 50 }, (_, i) => `v${i}`));
        await client.set('s', randomBytes(300));
        for (const key of ['list', 's']) {
          const payload = (await client.dumpBuffer(key)) as Buffer;
          const body = payload.subarray(0, payload.length - 8);
          expect(crc64(body)).toBe(payload.readBigUInt64LE(payload.length - 8));
        }
      });
    } finally {
      await server.stop();
    }
  });
});

describe('validateRdbFixture', () => {
  it('fingerprints a file written by redis 7.0', async () => {
    const info = await validateRdbFixture(rdb);
    const stats = await stat(rdb);
    expect(info).toEqual({
      path: rdb,
      size: rdbBytes.length,
      sha256: createHash('sha256').update(rdbBytes).digest('hex'),
      rdbVersion: 10,
      rdbMagic: 'REDIS',
      mtimeMs: stats.mtimeMs,
    });
  });

  it('resolves relative paths to absolute ones', async () => {
    const info = await validateRdbFixture(relative(process.cwd(), rdb));
    expect(info.path).toBe(rdb);
  });

  it('handles chunk boundaries anywhere in the header and trailer', async () => {
    const small = join(dir, 'small.rdb');
    await makeRdb(small, async (client) => {
      await client.hset('h', 'field', 'value');
    });
    const { size } = await stat(small);
    for (const readChunkBytes of [1, 2, 5, 8, 9, 10, 13, size - 9, size - 1, size]) {
      expect((await validateRdbFixture(small, { readChunkBytes })).size).toBe(size);
    }
    for (const readChunkBytes of [4096, rdbBytes.length - 5]) {
      expect((await validateRdbFixture(rdb, { readChunkBytes })).size).toBe(rdbBytes.length);
    }
  });

  it('streams large files in chunks', async () => {
    const big = await variant('big.rdb', syntheticRdb(10, randomBytes(6 * 1024 * 1024), 'crc'));
    const info = await validateRdbFixture(big);
    expect(info.size).toBe(6 * 1024 * 1024 + 18);
    const corrupt = await readFile(big);
    corrupt[3 * 1024 * 1024] = (corrupt[3 * 1024 * 1024] as number) ^ 1;
    const err = await badFixture(validateRdbFixture(await variant('big-bad.rdb', corrupt)));
    expect(err.message).toMatch(/checksum mismatch/);
  });

  it('reports a missing file with its absolute path', async () => {
    const missing = join(dir, 'nope.rdb');
    const err = await badFixture(validateRdbFixture(missing));
    expect(err.message).toContain(missing);
    expect(err.message).toMatch(/not found/);
  });

  it('refuses a directory', async () => {
    const sub = join(dir, 'a-directory.rdb');
    await mkdir(sub, { recursive: true });
    const err = await badFixture(validateRdbFixture(sub));
    expect(err.message).toMatch(/not found: it is a directory/);
  });

  it('refuses files too short for a header', async () => {
    for (const bytes of [Buffer.alloc(0), Buffer.from('REDIS00')]) {
      const err = await badFixture(validateRdbFixture(await variant('short.rdb', bytes)));
      expect(err.message).toMatch(/too short for an RDB header/);
    }
  });

  it('refuses files that are not RDB', async () => {
    const json = await variant('oops.rdb', Buffer.from('{"key": "value", "more": "text"}'));
    const err = await badFixture(validateRdbFixture(json));
    expect(err.message).toContain(json);
    expect(err.message).toMatch(/not an RDB file/);
    const letters = await variant('letters.rdb', Buffer.from('REDIS00a1xxxxxxxxxxxxxxxxxx'));
    expect((await badFixture(validateRdbFixture(letters))).message).toMatch(/4-digit version/);
  });

  it('refuses versions above a declared maxRdbVersion and names both', async () => {
    const v11 = await variant('v11.rdb', syntheticRdb(11, Buffer.from('data'), 'crc'));
    // Without a declaration the file alone is checked: the server decides later.
    expect((await validateRdbFixture(v11)).rdbVersion).toBe(11);
    const err = await badFixture(validateRdbFixture(v11, { maxRdbVersion: 10 }));
    expect(err.message).toMatch(/REDIS0011 \(RDB version 11\), but maxRdbVersion is 10/);
    expect(err.message).toMatch(
      /7\.0 loads RDB versions up to 10, 7\.2 up to 11 and 7\.4 up to 12/,
    );
    expect(err.details).toMatchObject({ rdbVersion: 11, maxRdbVersion: 10, rdbMagic: 'REDIS' });
    expect((await validateRdbFixture(v11, { maxRdbVersion: 11 })).rdbVersion).toBe(11);
    const v0 = await variant('v0.rdb', syntheticRdb(0, Buffer.from('data'), 'none'));
    expect((await badFixture(validateRdbFixture(v0))).message).toMatch(/RDB version 0/);
  });

  it('reads Valkey 9 headers (VALKEY + 3 digits)', async () => {
    const body = Buffer.concat([Buffer.from('VALKEY080'), Buffer.from([0xff])]);
    const crc = new Crc64();
    crc.update(body, 0, body.length);
    const sum = Buffer.alloc(8);
    sum.writeBigUInt64LE(crc.digest());
    const path = await variant('valkey9.rdb', Buffer.concat([body, sum]));
    const info = await validateRdbFixture(path);
    expect(info).toMatchObject({ rdbMagic: 'VALKEY', rdbVersion: 80 });
    const bad = await variant('valkey-bad.rdb', Buffer.from('VALKEY08xyyyyyyyyyyyyyy'));
    expect((await badFixture(validateRdbFixture(bad))).message).toMatch(/"VALKEY" and a 3-digit/);
  });

  it('refuses an invalid maxRdbVersion', async () => {
    const err = await validateRdbFixture(rdb, { maxRdbVersion: 0 }).catch((e: unknown) => e);
    expect(isKubecacheError(err, 'BAD_OPTION')).toBe(true);
  });

  it('detects truncation', async () => {
    for (const cut of [1, 8, 9, 100]) {
      const path = await variant('cut.rdb', rdbBytes);
      await truncate(path, rdbBytes.length - cut);
      const err = await badFixture(validateRdbFixture(path));
      expect(err.message).toContain(path);
      expect(err.message).toMatch(/truncated: no EOF marker|checksum mismatch/);
    }
    // Cut inside the checksum of a file whose body does not end in 0xFF: no marker where due.
    const synthetic = syntheticRdb(10, Buffer.from('body'), 'crc');
    const path = await variant('cut.rdb', synthetic.subarray(0, synthetic.length - 2));
    expect((await badFixture(validateRdbFixture(path))).message).toMatch(
      /truncated: no EOF marker/,
    );
  });

  it('detects corruption in the body and in the stored checksum', async () => {
    const body = Buffer.from(rdbBytes);
    body[Math.floor(body.length / 2)] = (body[Math.floor(body.length / 2)] as number) ^ 0x40;
    const err = await badFixture(validateRdbFixture(await variant('flip.rdb', body)));
    expect(err.message).toMatch(/checksum mismatch/);
    expect(err.details.stored).toMatch(/^0x[0-9a-f]{16}$/);

    const sum = Buffer.from(rdbBytes);
    sum[sum.length - 1] = (sum[sum.length - 1] as number) ^ 1;
    expect((await badFixture(validateRdbFixture(await variant('sum.rdb', sum)))).message).toMatch(
      /checksum mismatch/,
    );
  });

  it('accepts a zero checksum, which redis writes with rdbchecksum off', async () => {
    const path = join(dir, 'nocrc.rdb');
    await makeRdb(
      path,
      async (client) => {
        await client.set('k', 'v');
      },
      ['--rdbchecksum', 'no'],
    );
    const bytes = await readFile(path);
    expect(bytes.readBigUInt64LE(bytes.length - 8)).toBe(0n);
    expect((await validateRdbFixture(path)).rdbVersion).toBe(10);
  });

  it('checks only the EOF opcode before RDB 5, which had no checksum', async () => {
    const v4 = await variant('v4.rdb', syntheticRdb(4, Buffer.from('body'), 'none'));
    expect((await validateRdbFixture(v4)).rdbVersion).toBe(4);
    const cut = await variant('v4-cut.rdb', Buffer.from('REDIS0004body'));
    expect((await badFixture(validateRdbFixture(cut))).message).toMatch(/no EOF marker \(0xFF\)/);
  });
});

describe('FixtureRegistry', () => {
  it('validates a fixture version once and shares the result', async () => {
    const path = await variant('shared.rdb', rdbBytes);
    // A whole-second mtime can be set back exactly after rewriting the file.
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    await utimes(path, mtime, mtime);
    const registry = new FixtureRegistry();
    const [a, b] = await Promise.all([registry.validate(path), registry.validate(path)]);
    expect(a).toBe(b);
    expect(registry.size).toBe(1);

    // Same size and mtime: served from the cache without reading the (now corrupt) file.
    const corrupt = Buffer.from(rdbBytes);
    corrupt[20] = (corrupt[20] as number) ^ 1;
    await writeFile(path, corrupt);
    await utimes(path, mtime, mtime);
    expect(await registry.validate(path)).toBe(a);

    // A new mtime means a new version of the file: validated again.
    const later = new Date(mtime.getTime() + 5000);
    await utimes(path, later, later);
    const err = await badFixture(registry.validate(path));
    expect(err.message).toMatch(/checksum mismatch/);
    expect(registry.size).toBe(2);
  });

  it('remembers a broken fixture until it changes', async () => {
    const path = await variant('broken.rdb', Buffer.from('not an rdb file at all'));
    const registry = new FixtureRegistry();
    await badFixture(registry.validate(path));
    await badFixture(registry.validate(path));
    expect(registry.size).toBe(1);
  });

  it('applies its maxRdbVersion', async () => {
    const v11 = await variant('reg-v11.rdb', syntheticRdb(11, Buffer.from('x'), 'crc'));
    await badFixture(new FixtureRegistry({ maxRdbVersion: 10 }).validate(v11));
    expect((await new FixtureRegistry({ maxRdbVersion: 11 }).validate(v11)).rdbVersion).toBe(11);
  });

  it('does not cache a missing file', async () => {
    const registry = new FixtureRegistry();
    await badFixture(registry.validate(join(dir, 'missing.rdb')));
    expect(registry.size).toBe(0);
  });
});
