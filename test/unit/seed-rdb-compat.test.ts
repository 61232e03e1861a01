import { describe, expect, it } from 'vitest';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import {
  checkRdbLoadable,
  explainRefusal,
  parseServerIdentity,
  rdbLabel,
  rdbSupport,
} from '../../src/seed/rdb-compat.js';

function refusal(fn: () => unknown): KubecacheError {
  try {
    fn();
  } catch (err) {
    expect(isKubecacheError(err, 'BAD_FIXTURE'), String(err)).toBe(true);
    return err as KubecacheError;
  }
  throw new Error('expected a BAD_FIXTURE refusal');
}

// INFO server replies as redis 7.0 and Valkey 8.1 send them (trimmed).
const REDIS_70_INFO =
  '# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n';
const VALKEY_81_INFO =
  '# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.1.8\r\nvalkey_release_stage:ga\r\n';

describe('server identity', () => {
  it('reads INFO server from redis and from Valkey (which also reports redis_version)', () => {
    expect(parseServerIdentity(REDIS_70_INFO)).toEqual({ name: 'redis', version: '7.0.15' });
    expect(parseServerIdentity(VALKEY_81_INFO)).toEqual({ name: 'valkey', version: '8.1.8' });
  });

  it('reads start-up banners from logs', () => {
    expect(
      parseServerIdentity('1:C 01 Dec 04:13:22.583 # Redis version=7.0.15, bits=64, commit=0'),
    ).toEqual({ name: 'redis', version: '7.0.15' });
    expect(parseServerIdentity('1:M * Valkey version=8.1.8, bits=64')).toEqual({
      name: 'valkey',
      version: '8.1.8',
    });
    expect(parseServerIdentity('nothing here')).toBeUndefined();
  });

  it('knows which RDB versions each release line loads', () => {
    const v = (name: 'redis' | 'valkey', version: string) => rdbSupport({ name, version });
    expect(v('redis', '6.2.14')).toEqual({ REDIS: 9 });
    expect(v('redis', '7.0.15')).toEqual({ REDIS: 10 });
    expect(v('redis', '7.2.5')).toEqual({ REDIS: 11 });
    expect(v('redis', '7.4.1')).toEqual({ REDIS: 12 });
    expect(v('valkey', '8.1.8')).toEqual({ REDIS: 11 });
    expect(v('valkey', '9.0.0')).toEqual({ REDIS: 11, VALKEY: 80 });
  });

  it('labels headers as the files spell them', () => {
    expect(rdbLabel({ magic: 'REDIS', version: 11 })).toBe('REDIS0011');
    expect(rdbLabel({ magic: 'VALKEY', version: 80 })).toBe('VALKEY080');
  });
});

describe('checkRdbLoadable', () => {
  const redis70 = { name: 'redis' as const, version: '7.0.15' };
  const valkey81 = { name: 'valkey' as const, version: '8.1.8' };

  it('passes what the server loads, and anything while nothing is known', () => {
    checkRdbLoadable('/f.rdb', { magic: 'REDIS', version: 10 }, { image: 'r', server: redis70 });
    checkRdbLoadable('/f.rdb', { magic: 'REDIS', version: 11 }, { image: 'v', server: valkey81 });
    checkRdbLoadable('/f.rdb', { magic: 'VALKEY', version: 80 }, { image: 'unknown' });
  });

  it('refuses a newer RDB naming both versions and the way out', () => {
    const err = refusal(() =>
      checkRdbLoadable(
        '/f.rdb',
        { magic: 'REDIS', version: 11 },
        { image: 'redis:7-alpine', server: redis70 },
      ),
    );
    expect(err.message).toContain('REDIS0011 (RDB version 11)');
    expect(err.message).toContain('Redis 7.0.15, which loads RDB versions up to 10');
    expect(err.message).toContain('maxRdbVersion');
    expect(err.details).toMatchObject({ rdbVersion: 11, server: 'Redis 7.0.15' });
  });

  it('refuses a VALKEY header on servers without that magic', () => {
    const err = refusal(() =>
      checkRdbLoadable(
        '/f.rdb',
        { magic: 'VALKEY', version: 80 },
        { image: 'valkey/valkey:8-alpine', server: valkey81 },
      ),
    );
    expect(err.message).toContain('VALKEY080');
    expect(err.message).toContain('Valkey 8.1.8');
    checkRdbLoadable(
      '/f.rdb',
      { magic: 'VALKEY', version: 80 },
      { image: 'v9', server: { name: 'valkey', version: '9.0.1' } },
    );
  });

  it('lets a declared maxRdbVersion win over what was learned', () => {
    checkRdbLoadable(
      '/f.rdb',
      { magic: 'REDIS', version: 12 },
      { image: 'v', server: valkey81, maxRdbVersion: 12 },
    );
    const err = refusal(() =>
      checkRdbLoadable(
        '/f.rdb',
        { magic: 'REDIS', version: 11 },
        { image: 'r', maxRdbVersion: 10 },
      ),
    );
    expect(err.message).toContain('maxRdbVersion is 10 for image r');
  });
});

describe('explainRefusal', () => {
  it('turns a failed pod log into an error naming both versions', () => {
    const logs = [
      '1:C 01 Dec 2026 04:13:22.583 # Redis version=7.0.15, bits=64, commit=00000000, just started',
      "1:M 01 Dec 2026 04:13:22.587 # Can't handle RDB format version 11",
      '1:M 01 Dec 2026 04:13:22.587 # Fatal error loading the DB: Invalid argument. Exiting.',
    ].join('\n');
    const found = explainRefusal('/f.rdb', { magic: 'REDIS', version: 11 }, 'redis:7-alpine', logs);
    expect(found?.server).toEqual({ name: 'redis', version: '7.0.15' });
    expect(found?.error.message).toContain('REDIS0011 (RDB version 11)');
    expect(found?.error.message).toContain('Redis 7.0.15');
    expect(found?.error.message).toContain('loads RDB versions up to 10');
    expect(explainRefusal('/f.rdb', { magic: 'REDIS', version: 11 }, 'x', 'OOM')).toBeUndefined();
  });
});
