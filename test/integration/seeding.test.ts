import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { startBrokerApi } from '../../src/broker/http-api.js';
import { LABEL_WORKER, managedSelector } from '../../src/names.js';
import { RdbEndpoint } from '../../src/seed/rdb-endpoint.js';
import { validateRdbFixture } from '../../src/seed/rdb-file.js';
import { summarizeRdb } from '../../src/seed/rdb-summary.js';
import { BrokerClient } from '../../src/worker/broker-client.js';
import { openCache } from '../../src/worker/open-cache.js';
import { brokerInNamespace } from '../support/broker-in-namespace.js';
import {
  adminCore,
  adminKubeconfigPath,
  devBridgeIP,
  ensureNamespace,
} from '../support/cluster.js';
import { rejection } from '../support/errors.js';
import { datasetDifferences, readDataset } from '../unit/seed-fixtures/dataset.js';

const RDB_ENGINES = ['redis', 'valkey'] as const;
const namespaceFor = (engine: (typeof RDB_ENGINES)[number]) =>
  engine === 'redis' ? 'kc-seeding' : `kc-seeding-${engine}`;
const NS = namespaceFor('redis');
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '../fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'kc-seed-'));
// TTLs count down between two reads of the same data.
const TTL_TOLERANCE_MS = 60_000;

// The same seed, reset and snapshot tests for every engine that speaks the
// redis protocol; each in its own namespace so they can run one after another.
describe.each(RDB_ENGINES)('seeding %s on the dev cluster', (engine) => {
  const NS = namespaceFor(engine);
  const namespaceBroker = brokerInNamespace(NS);
  let client: BrokerClient;
  let generated = '';
  let expected: Awaited<ReturnType<typeof readDataset>>;

  beforeAll(async () => {
    ({ client } = await namespaceBroker.start());

    // An RDB written by the dev cluster's own redis: every data type, and expirations.
    const source = await openCache(engine, {
      broker: client,
      worker: 'source',
      seed: { kind: 'json', path: join(fixtures, 'basic.json') },
    });
    await source.client.set('expiring:soon', 'x', 'EX', 3600);
    await source.client.hset('expiring:hash', { a: '1', b: '2' });
    await source.client.expire('expiring:hash', 7200);
    await source.client.zadd('scores', 1.5, 'a', -2, 'b', 1e9, 'c');
    generated = join(tmp, 'generated.rdb');
    const snap = await source.snapshot(generated);
    expect(snap.bytes).toBe(statSync(generated).size);
    expected = await readDataset(source.client);
    await source.close();
  });

  afterAll(() => namespaceBroker.stop());

  it('restores an RDB the cluster generated, key by key, with every type and expirations (http)', async () => {
    expect(expected.size).toBeGreaterThan(50);
    expect(new Set([...expected.values()].map((k) => k.type))).toEqual(
      new Set(['string', 'hash', 'list', 'set', 'zset']),
    );
    expect([...expected.values()].some((k) => k.pttl > 0)).toBe(true);
    const seeded = await openCache(engine, {
      broker: client,
      worker: 'http',
      seed: { kind: 'rdb', path: generated, transport: 'http' },
    });
    expect(
      datasetDifferences(expected, await readDataset(seeded.client), TTL_TOLERANCE_MS),
    ).toEqual([]);
    // reset() returns to the seeded state after changes.
    await seeded.client.flushall();
    await seeded.client.set('new', '1');
    await seeded.reset();
    expect(
      datasetDifferences(expected, await readDataset(seeded.client), TTL_TOLERANCE_MS),
    ).toEqual([]);
    await seeded.close();
  });

  it("a JSON seed's TTLs start over on every reset, and a reset brings back what expired", async () => {
    const seedFile = join(tmp, `ttl-${engine}.json`);
    writeFileSync(
      seedFile,
      JSON.stringify({ short: { type: 'string', value: 'v', ttl: 1 }, kept: 'k' }),
    );
    const seeded = await openCache(engine, {
      broker: client,
      worker: 'ttl',
      seed: { kind: 'json', path: seedFile },
    });
    const first = await seeded.client.pttl('short');
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(1000);
    // Past the TTL: the key expired, as it would on a long-lived server.
    await new Promise((r) => setTimeout(r, 1300));
    expect(await seeded.client.get('short')).toBeNull();
    await seeded.reset();
    // The seed is written again, so the key is back with a fresh second.
    expect(await seeded.client.get('short')).toBe('v');
    expect(await seeded.client.pttl('short')).toBeGreaterThan(500);
    expect(await seeded.client.get('kept')).toBe('k');
    await seeded.close();
  });

  it('restores the same data through the exec fallback', async () => {
    const seeded = await openCache(engine, {
      broker: client,
      worker: 'exec',
      seed: { kind: 'rdb', path: generated, transport: 'exec' },
    });
    expect(
      datasetDifferences(expected, await readDataset(seeded.client), TTL_TOLERANCE_MS),
    ).toEqual([]);
    await seeded.close();
  });

  /** A broker of its own whose fixture endpoint is set up by `seedEnv`; transport auto. */
  async function autoSeeded(seedEnv: Record<string, string>, worker: string) {
    const lines: string[] = [];
    const own = await Broker.start({
      progress: (line) => lines.push(line),
      env: { KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: NS, ...seedEnv },
    });
    const api = await startBrokerApi(own);
    try {
      const seeded = await openCache(engine, {
        broker: new BrokerClient(api.url, api.token),
        worker,
        seed: { kind: 'rdb', path: generated },
      });
      const got = await readDataset(seeded.client);
      await seeded.close();
      return { got, lines };
    } finally {
      await api.close();
      await own.teardown();
    }
  }

  // The transport fallbacks do not depend on the engine: one run of these is enough.
  if (engine === 'redis') {
    it('falls back to exec when pods cannot download the fixture over http (auto)', async () => {
      // The endpoint listens on loopback only, but tells pods the bridge address:
      // their download is refused, for real, and the pod fails to start.
      // A free port, so that this file may run against two clusters at once.
      const port = await getPort({ host: '127.0.0.1' });
      const { got, lines } = await autoSeeded(
        {
          KUBECACHE_SEED_BIND: '127.0.0.1',
          KUBECACHE_ADVERTISE_URL: `http://${devBridgeIP()}:${port}`,
        },
        'http-refused',
      );
      expect(datasetDifferences(expected, got, TTL_TOLERANCE_MS)).toEqual([]);
      expect(lines.join('\n')).toContain('retrying with exec');
    });

    it('falls back to exec when the http seed endpoint cannot be set up at all (auto)', async () => {
      // An address of no interface of this machine: the endpoint cannot bind.
      const { got, lines } = await autoSeeded(
        { KUBECACHE_ADVERTISE_URL: 'http://192.0.2.1:18082' },
        'http-unplannable',
      );
      expect(datasetDifferences(expected, got, TTL_TOLERANCE_MS)).toEqual([]);
      expect(lines.join('\n')).toContain('seeding by exec instead');
    });
  }

  it('gives back the same data from a snapshot of a changed cache', async () => {
    const live = await openCache(engine, { broker: client, worker: 'snap' });
    await live.client.set('a', '1');
    await live.client.rpush('l', 'x', 'y', 'z');
    await live.client.set('t', 'v', 'EX', 500);
    const path = join(tmp, 'snap.rdb');
    await live.snapshot(path);
    const before = await readDataset(live.client);
    const restored = await openCache(engine, {
      broker: client,
      worker: 'snap2',
      seed: { kind: 'rdb', path },
    });
    expect(
      datasetDifferences(before, await readDataset(restored.client), TTL_TOLERANCE_MS),
    ).toEqual([]);
    await live.close();
    await restored.close();
  });

  it('a snapshot() past its timeoutMs is a TIMEOUT naming timeoutMs; a generous one writes the RDB', async () => {
    const live = await openCache(engine, { broker: client, worker: 'snap-limit' });
    try {
      await live.client.set('a', '1');
      await live.client.hset('h', { f: 'v' });
      // A frozen server sends nothing, so the limit always runs out first
      // (1 ms alone was not enough: a small snapshot once beat the timer).
      await live.pause(3000);
      const cut = join(tmp, `cut-${engine}.rdb`);
      const err = await rejection(live.snapshot(cut, { timeoutMs: 500 }));
      expect(err.code, err.message).toBe('TIMEOUT');
      expect(err.message).toContain('within its limit of 500 ms');
      expect(err.message).toContain(
        'pass a larger timeoutMs, as in cache.snapshot(path, { timeoutMs: ',
      );
      expect(err.details).toMatchObject({ timeoutMs: 500 });
      expect(existsSync(cut) || existsSync(`${cut}.part`)).toBe(false);

      const path = join(tmp, `generous-${engine}.rdb`);
      const snap = await live.snapshot(path, { timeoutMs: 120_000 });
      expect(snap.bytes).toBe((await validateRdbFixture(path)).size);
      expect(await summarizeRdb(path)).toMatchObject({
        keys: 2,
        types: { string: 1, hash: 1 },
        complete: true,
      });
    } finally {
      await live.close();
    }
  });

  it('never shows the token in the pod spec; it lives in a Secret owned by the pod', async () => {
    const seeded = await openCache(engine, {
      broker: client,
      worker: 'secret',
      seed: { kind: 'rdb', path: join(fixtures, 'basic.rdb'), transport: 'http' },
    });
    const core = adminCore();
    const pod = await core.readNamespacedPod({ name: seeded.podName, namespace: NS });
    const env = pod.spec?.containers[0]?.env ?? [];
    const ref = env.find((e) => e.name === 'KUBECACHE_SEED_TOKEN')?.valueFrom?.secretKeyRef;
    expect(ref?.key).toBe('token');
    const secret = await core.readNamespacedSecret({ name: ref?.name ?? '', namespace: NS });
    const token = Buffer.from(secret.data?.token ?? '', 'base64').toString();
    expect(token.length).toBeGreaterThan(20);
    expect(JSON.stringify(pod)).not.toContain(token);
    expect(secret.metadata?.ownerReferences?.[0]?.uid).toBe(pod.metadata?.uid);
    await seeded.close();
  });

  it('rejects corrupt and truncated fixtures naming the file, before any pod exists', async () => {
    const good = readFileSync(join(fixtures, 'basic.rdb'));
    const truncated = join(tmp, 'truncated.rdb');
    writeFileSync(truncated, good.subarray(0, good.length - 20));
    const corrupt = join(tmp, 'corrupt.rdb');
    const bad = Buffer.from(good);
    const mid = Math.floor(bad.length / 2);
    bad[mid] = (bad[mid] ?? 0) ^ 0xff;
    writeFileSync(corrupt, bad);
    const notRdb = join(tmp, 'not-rdb.rdb');
    writeFileSync(notRdb, 'hello world, not an rdb file');
    for (const path of [truncated, corrupt, notRdb, join(tmp, 'missing.rdb')]) {
      const err = await rejection(
        openCache(engine, { broker: client, worker: 'bad', seed: { kind: 'rdb', path } }),
      );
      expect(err.code).toBe('BAD_FIXTURE');
      expect(err.message).toContain(path);
    }
    // No pod was ever made for the slot: terminating ones count too, since a
    // pod made and deleted for a refused request is still listed for its
    // grace period (the live pod list leaves it out).
    const made = await adminCore().listNamespacedPod({
      namespace: NS,
      labelSelector: `${managedSelector()},${LABEL_WORKER}=bad`,
    });
    expect(made.items.map((p) => p.metadata?.name)).toEqual([]);
  });

  // memcached has its own JSON seed format; one run of this is enough.
  if (engine === 'redis') {
    it('seeds memcached from JSON and resets it to that state', async () => {
      const mc = await openCache('memcached', {
        broker: client,
        worker: 'mc',
        seed: { kind: 'json', path: join(fixtures, 'memcached.json') },
      });
      expect((await mc.client.get('session:1')).value?.toString()).toBe('user=ada');
      await mc.client.set('session:1', 'changed', {});
      await mc.client.delete('session:4');
      await mc.reset();
      expect((await mc.client.get('session:1')).value?.toString()).toBe('user=ada');
      expect((await mc.client.get('session:4')).value?.toString()).toBe('user=margaret');
      await mc.close();
    });
  }
});

describe('the RDB endpoint on the pod network', () => {
  let endpoint: RdbEndpoint;
  beforeAll(async () => {
    endpoint = await RdbEndpoint.start({ host: devBridgeIP(), advertiseHost: devBridgeIP() });
  });
  afterAll(async () => {
    await endpoint.close();
  });

  it('answers 401/404 to a missing, wrong, replayed or other pod token and to path tricks', async () => {
    const file = await validateRdbFixture(join(fixtures, 'basic.rdb'));
    const a = endpoint.register({ file, podName: 'pod-a', ttlMs: 60_000 });
    const b = endpoint.register({ file, podName: 'pod-b', ttlMs: 60_000 });
    const base = new URL(a.url);
    // node:http sends the path exactly as given; fetch would normalise dot segments away.
    const get = (url: string, token?: string): Promise<number> =>
      new Promise((resolvePromise, reject) => {
        const path = url.slice(base.origin.length);
        const req = request(
          {
            host: base.hostname,
            port: base.port,
            path,
            headers: token ? { authorization: `Bearer ${token}` } : {},
          },
          (res) => {
            res.resume();
            resolvePromise(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    expect(await get(a.url)).toBe(401);
    expect(await get(a.url, 'wrong')).toBe(401);
    expect(await get(a.url, b.token)).toBe(401);
    for (const trick of [
      `${a.url}/`,
      `${a.url}?x=1`,
      `${base.origin}/rdb/../rdb/${a.id}`,
      `${base.origin}//rdb/${a.id}`,
      `${base.origin}/rdb%2F${a.id}`,
      `${base.origin}/RDB/${a.id}`,
    ]) {
      expect(await get(trick, a.token), trick).toBe(404);
    }
    const ok = await fetch(a.url, { headers: { authorization: `Bearer ${a.token}` } });
    expect(ok.status).toBe(200);
    expect(
      Buffer.from(await ok.arrayBuffer()).equals(readFileSync(join(fixtures, 'basic.rdb'))),
    ).toBe(true);
    expect(await get(a.url, a.token)).toBe(404);
    expect(await get(b.url, b.token)).toBe(200);
  });
});

describe('runner memory with a 100 MB fixture', () => {
  it('adds less than 32 MB to the runner RSS while seeding 4 pods', async () => {
    // A 100 MB RDB from a local redis with compression off (host loopback only).
    const dir = mkdtempSync(join(tmpdir(), 'kc-big-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = spawn('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--rdbcompression',
      'no',
      '--enable-debug-command',
      'yes',
    ]);
    try {
      await new Promise((r) => setTimeout(r, 300));
      execFileSync('redis-cli', ['-p', String(port), 'DEBUG', 'POPULATE', '100000', 'big', '1000']);
      execFileSync('redis-cli', ['-p', String(port), 'SAVE']);
    } finally {
      server.kill();
    }
    const big = join(dir, 'dump.rdb');
    expect(statSync(big).size).toBeGreaterThan(100_000_000);
    await ensureNamespace(NS);
    const child = spawn(process.execPath, [join(here, 'fixtures/rss-seed.mjs'), big, '4'], {
      env: {
        ...process.env,
        KUBECONFIG: adminKubeconfigPath(),
        KUBECACHE_NAMESPACE: NS,
        KUBECACHE_QUIET: '1',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
      baselineRss: number;
      peakRss: number;
      keys: number[];
    };
    expect(result.keys).toEqual([100_000, 100_000, 100_000, 100_000]);
    const added = result.peakRss - result.baselineRss;
    process.stdout.write(
      `[rss] seeding 4 pods from a ${(statSync(big).size / 1e6).toFixed(0)} MB fixture added ${(added / 1048576).toFixed(1)} MiB to the runner RSS\n`,
    );
    expect(added).toBeLessThan(32 * 1024 * 1024);
  });
});
