import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AclProfile } from '../../src/config/options.js';
import { redis } from '../../src/engines/redis/engine.js';
import { redisServer } from '../../src/engines/redis/server.js';
import type { CacheAccess } from '../../src/engines/types.js';
import { RunCertificateAuthority } from '../../src/security/ca.js';
import type { CacheLogins } from '../../src/security/credentials.js';
import { type LocalServer, startRedis } from './helpers/local-servers.js';

// The ACL and TLS setup of a locked cache, against a real local redis-server
// started with exactly the arguments and files a cache pod gets.

interface Locked {
  server: LocalServer;
  logins: CacheLogins;
  tls?: { ca: string; servername: string };
}

const dirs: string[] = [];
async function startLocked(profile: AclProfile, tls = false): Promise<Locked> {
  const dir = await mkdtemp(join(tmpdir(), 'kc-sec-'));
  dirs.push(dir);
  const logins = redisServer.security.newLogins();
  let pair: { certPem: string; keyPem: string; caPem: string } | undefined;
  let access: Locked['tls'];
  if (tls) {
    const ca = await RunCertificateAuthority.create('unit', 600_000);
    const cert = await ca.issueServer('kc-unit-redis');
    pair = { certPem: cert.certPem, keyPem: cert.keyPem, caPem: ca.caPem };
    access = { ca: ca.caPem, servername: cert.servername };
  }
  const files = redisServer.security.secretFiles({
    logins,
    acl: profile,
    ...(pair ? { tls: pair } : {}),
  });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  // The same flags a pod gets: the engine's seeded args and the security ones.
  const server = await startRedis((port) => [
    ...redisServer.seededArgs,
    '--repl-diskless-sync-delay',
    '0',
    // Its own dir: DEBUG RELOAD and SAVE use dump.rdb there.
    '--dir',
    dir,
    ...redisServer.security.serverArgs({ dir, port, auth: true, tls }),
  ]);
  return { server, logins, ...(access ? { tls: access } : {}) };
}

/** Sends raw RESP lines and collects `replies` reply lines (the tests use simple one-line replies). */
function rawExchange(host: string, port: number, text: string, replies: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = connect({ host, port }, () => socket.write(text));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, 2000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      got += d;
      if (got.split('\r\n').length > replies) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
}

async function denied(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'allowed',
    (e: Error) => e.message,
  );
}

describe('a locked redis (ACL)', () => {
  let app: Locked;
  let restricted: Locked;
  const open: Redis[] = [];
  const client = async (l: Locked, who: 'user' | 'admin' | 'none'): Promise<Redis> => {
    const access: CacheAccess = who === 'none' ? {} : { login: l.logins[who] };
    const c = (await redis.clientOps.connect(
      { host: l.server.host, port: l.server.port },
      access,
    )) as Redis;
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    [app, restricted] = await Promise.all([startLocked('app'), startLocked('restricted')]);
  });
  afterAll(async () => {
    for (const c of open) c.disconnect();
    await Promise.all([app?.server.stop(), restricted?.server.stop()]);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('refuses a client without the password or with a wrong one', async () => {
    const { host, port } = app.server;
    const anon = await rawExchange(host, port, 'GET k\r\nSET k v\r\n', 2);
    expect(anon).toMatch(/^-NOAUTH.*\r\n-NOAUTH/s);
    const wrong = await rawExchange(host, port, 'AUTH wrong\r\nGET k\r\n', 2);
    expect(wrong).toMatch(/^-WRONGPASS.*\r\n-NOAUTH/s);
    const right = await rawExchange(host, port, `AUTH ${app.logins.user.password}\r\nPING\r\n`, 2);
    expect(right).toBe('+OK\r\n+PONG\r\n');
  });

  it('lets the test user run data commands and FLUSHALL, not DEBUG/CONFIG/SHUTDOWN/MODULE', async () => {
    const user = await client(app, 'user');
    await user.set('k', 'v');
    expect(await user.get('k')).toBe('v');
    expect(await user.keys('*')).toEqual(['k']);
    expect(await user.flushall()).toBe('OK');
    for (const cmd of [
      ['DEBUG', 'RELOAD'],
      ['CONFIG', 'GET', 'dir'],
      ['SHUTDOWN', 'NOSAVE'],
      ['MODULE', 'LIST'],
      ['SAVE'],
      ['ACL', 'SETUSER', 'x', 'on'],
    ]) {
      expect(await denied(user.call(cmd[0] as string, ...cmd.slice(1))), cmd.join(' ')).toMatch(
        /NOPERM/,
      );
    }
  });

  it('restricted: no FLUSHALL/FLUSHDB either, while the admin login still resets', async () => {
    const user = await client(restricted, 'user');
    const admin = await client(restricted, 'admin');
    await user.set('seeded', '1');
    // What an RDB seed is: the file the server reloads on reset.
    await admin.call('SAVE');
    await user.set('later', '2');
    expect(await denied(user.flushall())).toMatch(/NOPERM/);
    expect(await denied(user.flushdb())).toMatch(/NOPERM/);
    expect(await denied(user.call('DEBUG', 'RELOAD'))).toMatch(/NOPERM/);
    await redis.clientOps.restoreSeed?.(admin);
    expect((await user.keys('*')).sort()).toEqual(['seeded']);
    await redis.clientOps.flush(admin);
    expect(await user.dbsize()).toBe(0);
  });

  it('snapshot() works with the admin login and not with the test user', async () => {
    const user = await client(app, 'user');
    await user.set('snap', 'x');
    const dir = dirs[0] as string;
    const endpoint = { host: app.server.host, port: app.server.port };
    const ok = await redis.clientOps.snapshot?.(endpoint, join(dir, 'a.rdb'), {
      timeoutMs: 10_000,
      access: { login: app.logins.admin },
    });
    expect(ok?.bytes).toBeGreaterThan(0);
    const refused = await denied(
      redis.clientOps.snapshot?.(endpoint, join(dir, 'b.rdb'), {
        timeoutMs: 10_000,
        access: { login: app.logins.user },
      }) ?? Promise.resolve(),
    );
    expect(refused).toMatch(/NOPERM|SYNC/);
  });
});

describe('a redis with TLS', () => {
  let tls: Locked;
  beforeAll(async () => {
    tls = await startLocked('app', true);
  }, 20_000);
  afterAll(() => tls?.server.stop());

  it('serves TLS with the run CA, refuses plaintext, and the probe speaks TLS', async () => {
    const endpoint = { host: tls.server.host, port: tls.server.port };
    const c = (await redis.clientOps.connect(endpoint, {
      login: tls.logins.user,
      ...(tls.tls ? { tls: tls.tls } : {}),
    })) as Redis;
    try {
      await c.set('t', '1');
      expect(await c.get('t')).toBe('1');
    } finally {
      await redis.clientOps.close(c);
    }
    await expect(
      redisServer.probe(endpoint.host, endpoint.port, 2000, tls.tls ? { tls: tls.tls } : {}),
    ).resolves.toBeUndefined();
    await expect(redisServer.probe(endpoint.host, endpoint.port, 2000)).rejects.toThrow();
    const plain = new Redis({
      ...endpoint,
      password: tls.logins.user.password,
      lazyConnect: true,
      connectTimeout: 1000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    plain.on('error', () => {});
    expect(await denied(plain.connect().then(() => plain.ping()))).not.toBe('allowed');
    plain.disconnect();
  });
});
