import { X509Certificate } from 'node:crypto';
import { createServer, connect as tlsConnect } from 'node:tls';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { cacheUrl } from '../../src/broker/broker.js';
import { resolveCacheConfig } from '../../src/config/options.js';
import { memcachedServer } from '../../src/engines/memcached/server.js';
import {
  REDIS_ACL_RULES,
  REDIS_ADMIN_USER,
  REDIS_TEST_USER,
  redisAclFile,
} from '../../src/engines/redis/acl.js';
import { redis } from '../../src/engines/redis/engine.js';
import { redisServer } from '../../src/engines/redis/server.js';
import { valkeyServer } from '../../src/engines/valkey/server.js';
import { buildCachePolicy } from '../../src/kube/network-policy.js';
import { buildCachePod } from '../../src/kube/pod-spec.js';
import { LABEL_RUN, LABEL_WORKER } from '../../src/names.js';
import { RunCertificateAuthority } from '../../src/security/ca.js';
import { sha256Hex } from '../../src/security/credentials.js';

const logins = {
  user: { username: REDIS_TEST_USER, password: 'user-pw' },
  admin: { username: REDIS_ADMIN_USER, password: 'admin-pw' },
};

describe('redis ACL file', () => {
  it('holds only password hashes and keeps admin commands from the test user', () => {
    const text = redisAclFile(logins, 'app');
    expect(text).not.toContain('user-pw');
    expect(text).not.toContain('admin-pw');
    const [user, admin] = text.trim().split('\n');
    expect(user).toBe(`user default on #${sha256Hex('user-pw')} ~* &* +@all -@admin -migrate`);
    expect(admin).toBe(`user kubecache-admin on #${sha256Hex('admin-pw')} ~* &* +@all`);
  });

  it('also forbids wiping databases in the restricted profile', () => {
    const user = redisAclFile(logins, 'restricted').split('\n')[0] ?? '';
    for (const rule of ['-@admin', '-flushall', '-flushdb', '-swapdb'])
      expect(user).toContain(rule);
    expect(REDIS_ACL_RULES.app).not.toContain('-flushall');
  });

  it('gives each pod fresh random logins', () => {
    const a = redisServer.security.newLogins();
    const b = redisServer.security.newLogins();
    expect(a.user.password).not.toBe(b.user.password);
    expect(a.user.password).not.toBe(a.admin.password);
    expect(a.user.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('server arguments of locked caches', () => {
  const input = { dir: '/etc/kubecache', port: 6379, auth: true, tls: true };
  it('redis reads the ACL file and serves only TLS on its port', () => {
    const args = redisServer.security.serverArgs(input);
    expect(args.join(' ')).toContain('--aclfile /etc/kubecache/users.acl');
    expect(args.join(' ')).toContain('--port 0 --tls-port 6379');
    const argv = redisServer.command({ args });
    // The engine's own --port comes first, so the later --port 0 wins.
    expect(argv.indexOf('--port')).toBeLessThan(argv.lastIndexOf('--port'));
    expect(redisServer.security.serverArgs({ ...input, auth: false, tls: false })).toEqual([]);
  });

  it('memcached turns SASL on and prepares its password database first', () => {
    const mc = { ...input, port: 11211, tls: false };
    expect(memcachedServer.security.serverArgs(mc)).toEqual(['-S']);
    const wrapped = memcachedServer.security.wrapCommand?.(['memcached', '-S'], mc) ?? [];
    expect(wrapped.slice(0, 2)).toEqual(['sh', '-c']);
    expect(wrapped[2]).toContain('saslpasswd2 -p -c -a memcached');
    expect(wrapped.slice(-2)).toEqual(['memcached', '-S']);
    const files = memcachedServer.security.secretFiles({
      logins: memcachedServer.security.newLogins(),
      acl: 'app',
    });
    expect(Object.keys(files).sort()).toEqual(['memcached.conf', 'sasl-password', 'sasl-pwdb']);
    expect(files['memcached.conf']).toContain('mech_list: plain');
    expect(memcachedServer.security.tlsUnsupported).toContain('memjs');
  });
});

describe('per-run certificate authority', () => {
  it('issues server certificates for the pod name that a TLS client accepts', async () => {
    const ca = await RunCertificateAuthority.create('run1', 3_600_000);
    const server = await ca.issueServer('kc-run1-redis-w1');
    const leaf = new X509Certificate(server.certPem);
    expect(leaf.subjectAltName).toContain('DNS:kc-run1-redis-w1');
    expect(leaf.verify(new X509Certificate(ca.caPem).publicKey)).toBe(true);
    expect(new X509Certificate(ca.caPem).ca).toBe(true);

    const tlsServer = createServer({ cert: server.certPem, key: server.keyPem }, (s) =>
      s.end('ok'),
    );
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    const port = (tlsServer.address() as { port: number }).port;
    const talk = (opts: { servername: string; ca?: string }) =>
      new Promise<string>((resolve) => {
        const c = tlsConnect({ host: '127.0.0.1', port, ...opts }, () => {
          c.once('data', (d) => resolve(String(d)));
        });
        c.on('error', (e) => resolve(`error: ${e.message}`));
      });
    try {
      expect(await talk({ servername: 'kc-run1-redis-w1', ca: ca.caPem })).toBe('ok');
      expect(await talk({ servername: 'kc-run1-redis-w1' })).toMatch(/^error: .*certificate/);
      expect(await talk({ servername: 'someone-else', ca: ca.caPem })).toMatch(/^error: /);
    } finally {
      tlsServer.close();
    }
  });
});

describe('pod-owned Secret and NetworkPolicy', () => {
  const config = resolveCacheConfig('redis', { env: {} });
  const base = {
    engine: redis,
    config,
    namespace: 'ns',
    runId: 'run1',
    worker: '1',
    leaseExpiresAt: new Date('2030-01-01T00:00:00Z'),
    host: 'h',
    pid: 1,
    activeDeadlineSeconds: 60,
  };

  it('mounts the Secret read-only and never puts a password in the spec', () => {
    const pod = buildCachePod({
      ...base,
      secret: { secretName: 'kc-auth-run1-1', mountPath: '/etc/kubecache' },
    });
    const spec = pod.spec as NonNullable<V1Pod['spec']>;
    expect(spec.volumes).toContainEqual({
      name: 'kubecache-secret',
      secret: { secretName: 'kc-auth-run1-1', defaultMode: 0o440 },
    });
    expect(spec.containers[0]?.volumeMounts).toContainEqual({
      name: 'kubecache-secret',
      mountPath: '/etc/kubecache',
      readOnly: true,
    });
    expect(JSON.stringify(pod)).not.toMatch(/password/i);
  });

  it('admits only the runner pod in cluster, the namespace otherwise, and is owned by the cache', () => {
    const pod: V1Pod = {
      metadata: {
        name: 'kc-a',
        uid: 'u-1',
        labels: { [LABEL_RUN]: 'run1', [LABEL_WORKER]: '1', other: 'x' },
      },
    };
    const inCluster = buildCachePolicy({ pod, port: 6379, runnerLabels: { job: 'ci' } });
    expect(inCluster.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Pod', uid: 'u-1' });
    expect(inCluster.spec?.podSelector?.matchLabels).toEqual({
      [LABEL_RUN]: 'run1',
      [LABEL_WORKER]: '1',
    });
    expect(inCluster.spec?.ingress?.[0]?._from).toEqual([
      { podSelector: { matchLabels: { job: 'ci' } } },
    ]);
    expect(inCluster.spec?.ingress?.[0]?.ports).toEqual([{ protocol: 'TCP', port: 6379 }]);
    const outside = buildCachePolicy({ pod, port: 6379 });
    expect(outside.spec?.ingress?.[0]?._from).toEqual([{ podSelector: {} }]);
  });
});

describe('cache URLs', () => {
  it('carry the login users need for their own clients', () => {
    expect(cacheUrl(redis, '10.0.0.1', 6379, { login: logins.user })).toBe(
      'redis://:user-pw@10.0.0.1:6379',
    );
    expect(cacheUrl(redis, '127.0.0.1', 4000, { tls: true })).toBe('rediss://127.0.0.1:4000');
    expect(
      cacheUrl(memcachedServer, 'fd00::1', 11211, { login: { username: 'kc', password: 'p' } }),
    ).toBe('memcached://kc:p@[fd00::1]:11211');
  });

  it("take the engine's own schemes: valkey's clients read redis URLs, memcached has no TLS one", () => {
    expect(cacheUrl(valkeyServer, '10.0.0.1', 6379)).toBe('redis://10.0.0.1:6379');
    expect(cacheUrl(valkeyServer, '10.0.0.1', 6379, { tls: true })).toBe('rediss://10.0.0.1:6379');
    expect(cacheUrl(memcachedServer, '10.0.0.1', 11211, { tls: true })).toBe(
      'memcached://10.0.0.1:11211',
    );
  });
});

describe('warm reuse of locked caches', () => {
  it('keeps locked caches (their logins travel in the kept pod Secret) but never TLS or NetworkPolicy ones', async () => {
    const { reuseKey } = await import('../../src/broker/reuse.js');
    const open = resolveCacheConfig('redis', { env: {}, call: { auth: false } });
    const locked = resolveCacheConfig('redis', { env: {} });
    expect(await reuseKey(open, undefined)).toMatch(/\w+/);
    expect(await reuseKey(locked, undefined)).toMatch(/\w+/);
    // Locked and open caches are never interchangeable.
    expect(await reuseKey(locked, undefined)).not.toBe(await reuseKey(open, undefined));
    // A TLS certificate comes from the finished run's in-memory CA.
    expect(await reuseKey({ ...open, tls: true }, undefined)).toBeUndefined();
    // A NetworkPolicy admits the finished run's runner pod only.
    expect(await reuseKey({ ...open, networkPolicy: true }, undefined)).toBeUndefined();
  });
});
