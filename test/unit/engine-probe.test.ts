import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEngine, memcached, redis, valkey } from '../../src/engines/registry.js';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import {
  closedPort,
  type LocalServer,
  startMemcached,
  startRedis,
  startTcpServer,
} from './helpers/local-servers.js';

async function rejection(promise: Promise<unknown>): Promise<KubecacheError> {
  try {
    await promise;
  } catch (err) {
    expect(isKubecacheError(err)).toBe(true);
    return err as KubecacheError;
  }
  throw new Error('expected the probe to reject');
}

let redisServer: LocalServer;
let memcachedServer: LocalServer;
let silent: LocalServer;
let hangUp: LocalServer;

beforeAll(async () => {
  [redisServer, memcachedServer, silent, hangUp] = await Promise.all([
    startRedis(),
    startMemcached(),
    startTcpServer(() => {}),
    startTcpServer((socket) => socket.destroy()),
  ]);
});

afterAll(async () => {
  await Promise.all([redisServer, memcachedServer, silent, hangUp].map((s) => s?.stop()));
});

describe('engine definitions', () => {
  it('describe redis and memcached', () => {
    expect(redis).toMatchObject({
      name: 'redis',
      defaultImage: 'redis:7-alpine',
      port: 6379,
      containerName: 'redis',
      dataDir: '/data',
    });
    expect(redis.command({ args: ['--maxmemory', '1mb'] })).toEqual([
      'redis-server',
      '--port',
      '6379',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--repl-diskless-sync-delay',
      '0',
      '--maxmemory',
      '1mb',
    ]);
    expect(memcached).toMatchObject({
      name: 'memcached',
      defaultImage: 'memcached:1.6-alpine',
      port: 11211,
      containerName: 'memcached',
    });
    expect(memcached.command({ args: ['-m', '64'] })).toEqual([
      'memcached',
      '-p',
      '11211',
      '-U',
      '0',
      '-m',
      '64',
    ]);
  });

  it('describes valkey as the redis protocol with its own binary and image', () => {
    expect(valkey).toMatchObject({
      name: 'valkey',
      defaultImage: 'valkey/valkey:8-alpine',
      port: 6379,
      containerName: 'valkey',
      dataDir: '/data',
      urlScheme: 'redis',
      rdbSeeds: true,
    });
    const argv = valkey.command({ args: ['--maxmemory', '1mb'] });
    expect(argv[0]).toBe('valkey-server');
    expect(argv.slice(1)).toEqual(redis.command({ args: ['--maxmemory', '1mb'] }).slice(1));
    expect(valkey.seededArgs).toEqual(redis.seededArgs);
    // The redis protocol's client operations, with Valkey's own address variable.
    expect(valkey.clientOps.connect).toBe(redis.clientOps.connect);
    expect(valkey.clientOps.addressEnv.name).toBe('VALKEY_URL');
  });

  it('looks engines up by name and rejects unknown ones', () => {
    expect(getEngine('redis')).toBe(redis);
    expect(getEngine('memcached')).toBe(memcached);
    expect(getEngine('valkey')).toBe(valkey);
    expect(() => getEngine('keydb')).toThrow(/Accepted values: "redis", "memcached", "valkey"/);
  });
});

describe.each([
  ['redis', redis, () => redisServer, () => memcachedServer],
  ['memcached', memcached, () => memcachedServer, () => redisServer],
  // The local redis-server stands in for Valkey: the probe is the protocol's.
  ['valkey', valkey, () => redisServer, () => memcachedServer],
] as const)('%s probe', (_, engine, own, other) => {
  it('resolves against a real server', async () => {
    await expect(engine.probe(own().host, own().port, 2000)).resolves.toBeUndefined();
  });

  it('rejects UNREACHABLE quickly on a closed port', async () => {
    const started = Date.now();
    const err = await rejection(engine.probe('127.0.0.1', await closedPort(), 2000));
    expect(err.code).toBe('UNREACHABLE');
    expect(err.details.reason).toBe('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects UNREACHABLE when the other protocol answers', async () => {
    const err = await rejection(engine.probe(other().host, other().port, 2000));
    expect(err.code).toBe('UNREACHABLE');
    expect(err.details.reason).toBe('wrong-protocol');
    expect(err.message).toContain(`not as ${engine.name}`);
  });

  it('rejects TIMEOUT within the deadline when the server never replies', async () => {
    const started = Date.now();
    const err = await rejection(engine.probe(silent.host, silent.port, 150));
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toContain('150ms');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects UNREACHABLE when the connection is dropped before a reply', async () => {
    const err = await rejection(engine.probe(hangUp.host, hangUp.port, 2000));
    expect(err.code).toBe('UNREACHABLE');
    expect(['closed', 'ECONNRESET']).toContain(err.details.reason);
  });
});

describe('redis probe replies', () => {
  async function probeWithReply(reply: string | string[]) {
    const server = await startTcpServer((socket) => {
      socket.once('data', () => {
        const parts = Array.isArray(reply) ? reply : [reply];
        for (const [i, part] of parts.entries()) {
          setTimeout(() => socket.write(part), i * 20);
        }
      });
    });
    try {
      return await redis.probe(server.host, server.port, 1000).then(
        () => 'ok',
        (err: KubecacheError) => `${err.code}:${String(err.details.reason)}`,
      );
    } finally {
      await server.stop();
    }
  }

  it('accepts a PONG split across packets', async () => {
    expect(await probeWithReply(['+PO', 'NG\r', '\n'])).toBe('ok');
  });

  it('treats NOAUTH as up, since a password may be set through args', async () => {
    expect(await probeWithReply('-NOAUTH Authentication required.\r\n')).toBe('ok');
  });

  it('reports LOADING as busy so the caller keeps retrying', async () => {
    expect(await probeWithReply('-LOADING Redis is loading the dataset in memory\r\n')).toBe(
      'UNREACHABLE:busy',
    );
  });

  it('rejects an HTTP server as the wrong protocol', async () => {
    expect(await probeWithReply('HTTP/1.1 400 Bad Request\r\n\r\n')).toBe(
      'UNREACHABLE:wrong-protocol',
    );
  });
});
