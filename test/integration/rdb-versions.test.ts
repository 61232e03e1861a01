import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_WORKER, managedSelector } from '../../src/names.js';
import { Crc64 } from '../../src/seed/crc64.js';
import type { BrokerClient } from '../../src/worker/broker-client.js';
import { openCache } from '../../src/worker/open-cache.js';
import { brokerInNamespace } from '../support/broker-in-namespace.js';
import { adminCore } from '../support/cluster.js';
import { rejection } from '../support/errors.js';

// RDB compatibility follows the server in the image. The fixture was written
// by the real Valkey 8.1 binary (test/fixtures/make-valkey-rdb.sh): RDB 11.
// The dev cluster's redis:7-alpine is redis 7.0 (loads up to 10) and its
// valkey/valkey:8-alpine is Valkey 8.1.8 (loads up to 11, not "VALKEY080").

const NS = 'kc-rdb-versions';
const here = dirname(fileURLToPath(import.meta.url));
const VALKEY_FIXTURE = resolve(here, '../fixtures/valkey-8.1.rdb');
const VALKEY_IMAGE = 'docker.io/valkey/valkey:8-alpine';
const tmp = mkdtempSync(join(tmpdir(), 'kc-rdb-versions-'));

/** A structurally valid Valkey 9 file: header, EOF opcode, CRC-64. */
function valkey9Header(): string {
  const body = Buffer.concat([Buffer.from('VALKEY080'), Buffer.from([0xff])]);
  const crc = new Crc64();
  crc.update(body, 0, body.length);
  const sum = Buffer.alloc(8);
  sum.writeBigUInt64LE(crc.digest());
  const path = join(tmp, 'valkey9.rdb');
  writeFileSync(path, Buffer.concat([body, sum]));
  return path;
}

/**
 * The pods ever made for one worker slot that are still listed, terminating
 * ones included: a pod made and deleted for a refused request is still there
 * for its grace period. (A count of the namespace's pods would let one that
 * just went cancel out one that was made.)
 */
async function podsOf(worker: string): Promise<string[]> {
  const list = await adminCore().listNamespacedPod({
    namespace: NS,
    labelSelector: `${managedSelector()},${LABEL_WORKER}=${worker}`,
  });
  return list.items.map((p) => p.metadata?.name ?? '');
}

describe('RDB versions against the server in the image', () => {
  const namespaceBroker = brokerInNamespace(NS);
  let client: BrokerClient;

  beforeAll(async () => {
    ({ client } = await namespaceBroker.start());
  });

  afterAll(() => namespaceBroker.stop());

  it('refuses a VALKEY080 file in a Valkey 8.1 pod, naming both versions', async () => {
    const err = await rejection(
      openCache('redis', {
        broker: client,
        worker: 'valkey9',
        options: { image: VALKEY_IMAGE },
        seed: { kind: 'rdb', path: valkey9Header() },
      }),
    );
    expect(err.code).toBe('BAD_FIXTURE');
    expect(err.message).toContain('VALKEY080');
    expect(err.message).toContain('Valkey 8.1.8');
    expect(err.message).toContain('maxRdbVersion');
  });

  it('loads the Valkey 8.1 fixture (RDB 11) into a Valkey 8.1 pod', async () => {
    const cache = await openCache('redis', {
      broker: client,
      worker: 'valkey',
      options: { image: VALKEY_IMAGE },
      seed: { kind: 'rdb', path: VALKEY_FIXTURE },
    });
    expect(await cache.client.get('greeting')).toBe('hello from valkey 8.1');
    expect(await cache.client.hgetall('user:1')).toEqual({ name: 'ada', role: 'admin' });
    expect(await cache.client.lrange('queue', 0, -1)).toEqual(['a', 'b', 'c']);
    const info = await cache.client.info('server');
    expect(info).toMatch(/valkey_version:8\.1\.8/);
    await cache.client.set('greeting', 'changed');
    await cache.reset();
    expect(await cache.client.get('greeting')).toBe('hello from valkey 8.1');
    await cache.close();
  });

  it('refuses the same fixture in a redis 7.0 pod, naming both versions', async () => {
    // Nothing is known about redis:7-alpine yet: its first pod's server refuses the file.
    const first = await rejection(
      openCache('redis', {
        broker: client,
        worker: 'redis70',
        seed: { kind: 'rdb', path: VALKEY_FIXTURE },
      }),
    );
    expect(first.code).toBe('BAD_FIXTURE');
    expect(first.message).toContain('REDIS0011 (RDB version 11)');
    expect(first.message).toContain('Redis 7.0.15');
    expect(first.message).toContain('up to 10');
    // Now it is known: the next request is refused before any pod exists.
    const second = await rejection(
      openCache('redis', {
        broker: client,
        worker: 'redis70-again',
        seed: { kind: 'rdb', path: VALKEY_FIXTURE },
      }),
    );
    expect(second.code).toBe('BAD_FIXTURE');
    expect(second.message).toContain('is Redis 7.0.15, which loads RDB versions up to 10');
    expect(await podsOf('redis70-again')).toEqual([]);
    // A declared maxRdbVersion is checked before any pod too.
    const declared = await rejection(
      openCache('redis', {
        broker: client,
        worker: 'declared',
        options: { image: VALKEY_IMAGE, maxRdbVersion: 10 },
        seed: { kind: 'rdb', path: VALKEY_FIXTURE },
      }),
    );
    expect(declared.code).toBe('BAD_FIXTURE');
    expect(declared.message).toContain('maxRdbVersion is 10');
    expect(await podsOf('declared')).toEqual([]);
  });
});
