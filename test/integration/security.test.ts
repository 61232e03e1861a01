import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import memjs from 'memjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import type { MemcachedClient } from '../../src/engines/memcached/client.js';
import { redisServer } from '../../src/engines/redis/server.js';
import { managedSelector, runSelector } from '../../src/names.js';
import type { BrokerClient } from '../../src/worker/broker-client.js';
import { openCache } from '../../src/worker/open-cache.js';
import { brokerInNamespace } from '../support/broker-in-namespace.js';
import {
  adminCore,
  adminKubeconfigPath,
  adminNetworking,
  deleteNamespace,
  ensureNamespace,
} from '../support/cluster.js';
import { rejection } from '../support/errors.js';
import { expectDeletedThenGone, podsBy } from '../support/pods-gone.js';

// Locked caches on the real dev cluster: per-pod passwords and ACLs for
// redis, SASL for memcached, TLS with the run's CA, and NetworkPolicies.

const NS = 'kc-security';
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '../fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'kc-sec-'));

/** The error text a promise rejects with, or 'allowed'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'allowed',
    // memjs rejects with a bare string on an authentication failure.
    (e: unknown) => (e instanceof Error ? e.message : String(e)),
  );
}

/** Runs a throwaway pod (the cluster's redis image, so redis-cli) and returns its log. */
async function runClientPod(name: string, script: string): Promise<string> {
  const core = adminCore();
  const body: V1Pod = {
    metadata: { name, namespace: NS },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      containers: [
        {
          name: 'cli',
          image: 'redis:7-alpine',
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', script],
        },
      ],
    },
  };
  await core.createNamespacedPod({ namespace: NS, body });
  try {
    for (let i = 0; i < 600; i++) {
      const pod = await core.readNamespacedPod({ name, namespace: NS });
      const phase = pod.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') {
        return await core.readNamespacedPodLog({ name, namespace: NS });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`pod ${name} did not finish within 60 s`);
  } finally {
    await core
      .deleteNamespacedPod({ name, namespace: NS, gracePeriodSeconds: 0 })
      .catch(() => undefined);
  }
}

/** One exchange over plain TCP: whatever comes back within the time, or the error. */
function plainExchange(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolvePromise) => {
    let got = '';
    const s = connect({ host, port }, () => s.write(text));
    const timer = setTimeout(() => {
      s.destroy();
      resolvePromise(got);
    }, 1500);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      got += d;
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolvePromise(got);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      resolvePromise(`error: ${e.message}`);
    });
  });
}

describe('locked caches on the dev cluster', () => {
  const namespaceBroker = brokerInNamespace(NS);
  let broker: Broker;
  let client: BrokerClient;

  beforeAll(async () => {
    ({ broker, client } = await namespaceBroker.start());
  });

  afterAll(() => namespaceBroker.stop());

  it('redis is locked by default: a pod without the password can neither read nor write', async () => {
    const cache = await openCache('redis', { broker: client, worker: 'locked' });
    try {
      await cache.client.set('secret', 'value');
      expect(cache.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(cache.url).toBe(`redis://:${cache.password}@${cache.host}:${cache.port}`);
      // The handle's lease carries the test's login, never kubecache's admin one.
      expect(cache.lease.admin).toBeUndefined();
      expect(JSON.stringify(cache.lease)).not.toContain('kubecache-admin');

      const ip = cache.lease.podIP;
      const log = await runClientPod(
        'intruder',
        `redis-cli -h ${ip} GET secret; redis-cli -h ${ip} SET planted 1; redis-cli -h ${ip} --pass wrong GET secret 2>/dev/null`,
      );
      // GET, SET, and GET after a failed AUTH: each refused.
      expect(log.match(/NOAUTH/g)?.length).toBe(3);
      expect(log).not.toContain('value');
      expect(await cache.client.get('planted')).toBeNull();

      // With the password, the same kind of pod gets in: the lock is the password alone.
      const friend = await runClientPod(
        'friend',
        `REDISCLI_AUTH='${cache.password}' redis-cli -h ${ip} GET secret`,
      );
      expect(friend.trim()).toBe('value');
    } finally {
      await cache.close();
    }
  });

  it('the pod spec holds no password; the Secret holds only hashes and is owned by the pod', async () => {
    const cache = await openCache('redis', { broker: client, worker: 'spec' });
    try {
      const core = adminCore();
      const pod = await core.readNamespacedPod({ name: cache.podName, namespace: NS });
      const spec = JSON.stringify(pod.spec);
      expect(spec).not.toContain(cache.password);
      const volume = pod.spec?.volumes?.find((v) => v.secret);
      const secretName = volume?.secret?.secretName ?? '';
      const secret = await core.readNamespacedSecret({ name: secretName, namespace: NS });
      expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: 'Pod',
        name: cache.podName,
        uid: pod.metadata?.uid,
      });
      const acl = Buffer.from(secret.data?.['users.acl'] ?? '', 'base64').toString();
      expect(acl).toMatch(/^user default on #[0-9a-f]{64} /);
      expect(acl).not.toContain(cache.password);
    } finally {
      await cache.close();
    }
  });

  it('the test user cannot DEBUG/CONFIG/SHUTDOWN; FLUSHALL works by default; reset() works', async () => {
    const cache = await openCache('redis', { broker: client, worker: 'app' });
    try {
      const redis = cache.client;
      // An unseeded cache has DEBUG off altogether; the ACL refuses the rest.
      expect(await outcome(redis.call('DEBUG', 'SLEEP', '0'))).toMatch(/NOPERM|not allowed/);
      for (const cmd of [['CONFIG', 'GET', 'dir'], ['SHUTDOWN'], ['MODULE', 'LIST']]) {
        expect(await outcome(redis.call(cmd[0] as string, ...cmd.slice(1)))).toMatch(/NOPERM/);
      }
      await redis.set('a', '1');
      expect(await redis.flushall()).toBe('OK');
      await redis.set('b', '2');
      await cache.reset();
      expect(await redis.dbsize()).toBe(0);
    } finally {
      await cache.close();
    }
  });

  it('read-restricted: no DEBUG/CONFIG/FLUSHALL/FLUSHDB for the test, while reset() restores the seed', async () => {
    const cache = await openCache('redis', {
      broker: client,
      worker: 'restricted',
      options: { acl: 'restricted' },
      seed: { kind: 'json', path: join(fixtures, 'basic.json') },
    });
    try {
      const redis = cache.client;
      const seeded = (await redis.keys('*')).sort();
      expect(seeded.length).toBeGreaterThan(0);
      for (const cmd of [
        ['DEBUG', 'RELOAD'],
        ['CONFIG', 'SET', 'maxmemory', '1'],
        ['FLUSHALL'],
        ['FLUSHDB'],
        ['SAVE'],
      ]) {
        // A pod that needs no DEBUG RELOAD (JSON seeds are written again on
        // reset) runs without the DEBUG command at all: redis refuses it
        // before the ACL is asked.
        const refusal = cmd[0] === 'DEBUG' ? /NOPERM|not allowed/ : /NOPERM/;
        expect(await outcome(redis.call(cmd[0] as string, ...cmd.slice(1)))).toMatch(refusal);
      }
      await redis.set('added-by-test', '1');
      await redis.del(seeded[0] as string);
      await cache.reset();
      expect((await redis.keys('*')).sort()).toEqual(seeded);
    } finally {
      await cache.close();
    }
  });

  it('auth: false gives an open redis, as before', async () => {
    const cache = await openCache('redis', {
      broker: client,
      worker: 'open',
      options: { auth: false },
    });
    try {
      expect(cache.password).toBeUndefined();
      expect(await plainExchange(cache.host, cache.port, 'PING\r\n')).toBe('+PONG\r\n');
    } finally {
      await cache.close();
    }
  });

  it('TLS: a seeded redis serves TLS with the run CA, refuses plaintext, and resets and snapshots', async () => {
    const cache = await openCache('redis', {
      broker: client,
      worker: 'tls',
      options: { tls: true },
      seed: { kind: 'rdb', path: join(fixtures, 'basic.rdb') },
    });
    try {
      expect(cache.tls?.ca).toContain('BEGIN CERTIFICATE');
      expect(cache.tls?.servername).toBe(cache.podName);
      expect(cache.url.startsWith('rediss://')).toBe(true);
      const redis = cache.client as Redis;
      const keys = await redis.dbsize();
      expect(keys).toBeGreaterThan(0);
      await redis.set('extra', '1');
      await cache.reset();
      expect(await redis.dbsize()).toBe(keys);
      const snap = await cache.snapshot(join(tmp, 'tls.rdb'));
      expect(snap.bytes).toBeGreaterThan(0);
      // Plaintext on the same port gets no redis reply.
      const plain = await plainExchange(
        cache.host,
        cache.port,
        `AUTH ${cache.password}\r\nPING\r\n`,
      );
      expect(plain).not.toContain('+PONG');
      expect(plain).not.toContain('+OK');
      await expect(redisServer.probe(cache.host, cache.port, 1000)).rejects.toThrow();
    } finally {
      await cache.close();
    }
  });

  it('memcached SASL: the test client is logged in; no or wrong credentials are refused', async () => {
    const cache = await openCache('memcached', {
      broker: client,
      worker: 'sasl',
      options: { auth: true },
    });
    const others: MemcachedClient[] = [];
    try {
      const mc = cache.client as MemcachedClient;
      await mc.set('k', 'v', {});
      expect(String((await mc.get('k')).value)).toBe('v');
      expect(cache.username).toBe('kubecache');
      const quiet = { retries: 0, logger: { log: () => {} } };
      for (const creds of [{}, { username: 'kubecache', password: 'wrong' }]) {
        const other = memjs.Client.create(`${cache.host}:${cache.port}`, { ...quiet, ...creds });
        others.push(other);
        expect(await outcome(other.get('k'))).toMatch(/authentication|closed|Auth/i);
      }
      await cache.reset();
      expect((await mc.get('k')).value).toBeNull();
    } finally {
      for (const o of others) o.close();
      await cache.close();
    }
  });

  it('memcached rejects tls: true before any pod, saying why', async () => {
    const err = await rejection(
      openCache('memcached', { broker: client, worker: 'mctls', options: { tls: true } }),
    );
    expect(err.code).toBe('BAD_OPTION');
    expect(err.message).toContain('memjs');
    const pods = await adminCore().listNamespacedPod({
      namespace: NS,
      labelSelector: `${managedSelector()},kubecache.dev/worker=mctls`,
    });
    expect(pods.items).toEqual([]);
  });

  it('networkPolicy: a policy owned by the pod, gone with the pod and at teardown', async () => {
    const net = adminNetworking();
    const [a, b] = await Promise.all([
      broker.acquire({ engine: 'redis', worker: 'np1', options: { networkPolicy: true } }),
      broker.acquire({ engine: 'memcached', worker: 'np2', options: { networkPolicy: true } }),
    ]);
    for (const lease of [a, b]) {
      const policy = await net.readNamespacedNetworkPolicy({ name: lease.podName, namespace: NS });
      expect(policy.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: 'Pod',
        name: lease.podName,
      });
      expect(policy.spec?.policyTypes).toEqual(['Ingress']);
      // Outside the cluster, the runner is not a pod: the namespace's pods are admitted.
      expect(policy.spec?.ingress?.[0]?._from).toEqual([{ podSelector: {} }]);
    }
    // Deleting the pod takes its policy with it (the garbage collector).
    await broker.release(a.id, { destroy: true });
    let left = true;
    for (let i = 0; i < 300 && left; i++) {
      left = await net
        .readNamespacedNetworkPolicy({ name: a.podName, namespace: NS })
        .then(() => true)
        .catch(() => false);
      if (left) await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toBe(false);
    // The other policy stays until teardown (checked in the next describe).
    const policies = await net.listNamespacedNetworkPolicy({
      namespace: NS,
      labelSelector: runSelector(broker.runId),
    });
    expect(policies.items.map((p) => p.metadata?.name)).toEqual([b.podName]);
  });
});

describe('teardown of a locked run', () => {
  const NS2 = 'kc-security-teardown';
  afterAll(() => deleteNamespace(NS2));

  it('leaves no pods, Secrets or NetworkPolicies', async () => {
    await ensureNamespace(NS2);
    const broker = await Broker.start({
      progress: () => {},
      env: { KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: NS2 },
    });
    await Promise.all([
      broker.acquire({
        engine: 'redis',
        worker: 't1',
        options: { networkPolicy: true, tls: true },
      }),
      broker.acquire({
        engine: 'memcached',
        worker: 't2',
        options: { networkPolicy: true, auth: true },
      }),
    ]);
    const selector = runSelector(broker.runId);
    const [before, policiesBefore] = await Promise.all([
      adminCore().listNamespacedSecret({ namespace: NS2, labelSelector: selector }),
      adminNetworking().listNamespacedNetworkPolicy({ namespace: NS2, labelSelector: selector }),
    ]);
    // There is something to delete: with no policy made, "none left" would prove nothing.
    expect(before.items.length).toBe(2);
    expect(policiesBefore.items.length).toBe(2);
    const report = await broker.teardown();
    expect(report.remaining).toEqual([]);
    const [secrets, policies] = await Promise.all([
      adminCore().listNamespacedSecret({ namespace: NS2, labelSelector: selector }),
      adminNetworking().listNamespacedNetworkPolicy({ namespace: NS2, labelSelector: selector }),
    ]);
    expect(secrets.items).toEqual([]);
    expect(policies.items).toEqual([]);
    await expectDeletedThenGone(podsBy(NS2, selector));
  });
});
