import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRedisJsonSeed } from '../../src/engines/redis/seed.js';
import { loadJsonSeedFile } from '../../src/seed/json-fixture.js';
import { missingFileHint } from '../../src/seed/nearby-file.js';
import { validateRdbFixture } from '../../src/seed/rdb-file.js';
import { rejection } from '../support/errors.js';
import { removeDir, tempDir } from './seed-fixtures/dataset.js';

// A seed path that names no file: the message points at the file the user
// probably meant, or says the directory is missing.

let dir: string;
beforeAll(async () => {
  dir = await tempDir();
  await mkdir(join(dir, 'fixtures'));
  await writeFile(join(dir, 'fixtures', 'users.json'), '{}');
  await writeFile(join(dir, 'fixtures', 'sessions.rdb'), 'x');
  await mkdir(join(dir, 'fixtures', 'user.d'));
});
afterAll(() => removeDir(dir));

describe('a seed path that names no file', () => {
  it('suggests the file of that directory one typo away', async () => {
    const json = await rejection(
      loadJsonSeedFile(join(dir, 'fixtures', 'user.json'), parseRedisJsonSeed),
    );
    expect(json.code).toBe('BAD_FIXTURE');
    expect(json.message).toContain(`Did you mean ${join(dir, 'fixtures', 'users.json')}?`);
    const rdb = await rejection(validateRdbFixture(join(dir, 'fixtures', 'session.rdb')));
    expect(rdb.code).toBe('BAD_FIXTURE');
    expect(rdb.message).toContain(`Did you mean ${join(dir, 'fixtures', 'sessions.rdb')}?`);
  });

  it('says when the directory itself is missing', async () => {
    const err = await rejection(
      loadJsonSeedFile(join(dir, 'fixture', 'users.json'), parseRedisJsonSeed),
    );
    expect(err.message).toContain(`The directory ${join(dir, 'fixture')} does not exist.`);
    expect(err.message).not.toContain('Did you mean');
  });

  it('suggests nothing when no name is close, and never a directory', async () => {
    expect(await missingFileHint(join(dir, 'fixtures', 'orders-2024.json'))).toBe('');
    // "user.d" is one edit from "user.c" but a directory, not a seed file.
    expect(await missingFileHint(join(dir, 'fixtures', 'user.c'))).toBe('');
  });
});
