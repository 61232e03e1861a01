import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import type { CacheLease } from '../../src/broker/types.js';
import { closeRedisClient, createRedisClient } from '../../src/engines/redis/client.js';
import { CLOCK_MARGIN_MS } from '../../src/kube/reaper.js';
import { managedSelector, runSelector } from '../../src/names.js';
import {
  adminCore,
  adminKubeconfigPath,
  deleteNamespace,
  ensureNamespace,
  serviceAccountKubeconfig,
} from '../support/cluster.js';
import { writeDeadKubeconfig } from '../support/dead-kubeconfig.js';
import { BIN, REPO, runKubecacheBin } from '../support/kubecache-bin.js';

// Every command runs as the built bin in a child process, the way users and
// scripts run it; dist/ is built by npm test (test/tools/test.sh) before vitest.
const NS = 'kc-cli';
const here = dirname(fileURLToPath(import.meta.url));
const repo = REPO;
const bin = BIN;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function kubecache(
  args: string[],
  env: Record<string, string> = {},
  input = '',
  timeoutMs = 150_000,
): Promise<Run> {
  const run = await runKubecacheBin(args, {
    env: { CI: '', ...env },
    input,
    deadlineMs: timeoutMs,
  });
  if (run.hung) {
    throw new Error(
      `kubecache ${args.join(' ')} did not finish in ${timeoutMs} ms\n${run.stdout}\n${run.stderr}`,
    );
  }
  return run;
}

function json<T>(run: Run): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

async function livePods(selector = managedSelector()): Promise<string[]> {
  const list = await adminCore().listNamespacedPod({ namespace: NS, labelSelector: selector });
  return list.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name ?? '')
    .sort();
}

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  summary: string;
  next?: string;
}

beforeAll(async () => {
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: build dist first (npm run build; npm test does it).`);
  }
  await ensureNamespace(NS);
});

afterAll(async () => {
  await deleteNamespace(NS);
});

describe('kubecache check (no cluster)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubecache-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports magic, version, checksum, keys and types of an RDB and a JSON fixture', async () => {
    const rdb = await kubecache(['check', 'test/fixtures/basic.rdb', '--json'], {
      KUBECONFIG: '/nonexistent',
    });
    expect(rdb.code, rdb.stderr).toBe(0);
    expect(json(rdb)).toMatchObject({
      format: 'rdb',
      ok: true,
      magic: 'REDIS',
      rdbVersion: 10,
      checksum: { matches: true },
      keys: 50,
      types: { string: 10, hash: 10, list: 10, set: 10, zset: 10 },
      expiring: 15,
    });
    const human = await kubecache(['check', 'test/fixtures/memcached.json']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('JSON seed, ok');
    expect(human.stdout).toContain('engines   memcached');
  });

  it('exits 1 and says why for a corrupt RDB file', async () => {
    const bytes = await readFile(join(repo, 'test/fixtures/basic.rdb'));
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    const path = join(dir, 'corrupt.rdb');
    await writeFile(path, bytes);
    const run = await kubecache(['check', path]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('PROBLEMS');
    expect(run.stdout).toContain('checksum mismatch');
  });
});

describe('kubecache doctor', () => {
  it('passes on the dev cluster: every RBAC verb, both images, the endpoint and the seed route', async () => {
    const run = await kubecache(['-n', NS, 'doctor', '--json']);
    const report = json<{ ok: boolean; checks: Check[] }>(run);
    expect(run.code, JSON.stringify(report.checks, null, 2)).toBe(0);
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    for (const name of [
      'config',
      'kubeconfig',
      'api server',
      'namespace',
      'image redis',
      'image memcached',
      'endpoint',
      'seed route',
    ]) {
      expect(byName.get(name)?.status, `${name}: ${byName.get(name)?.summary}`).toBe('ok');
    }
    const rbac = report.checks.filter((c) => c.name.startsWith('rbac '));
    expect(rbac.length).toBeGreaterThan(15);
    expect(rbac.every((c) => c.status === 'ok')).toBe(true);
    // The dev cluster routes the pod network to this machine.
    expect(byName.get('endpoint')?.summary).toContain('auto picks pod-ip');
    // Probe pods are gone afterwards.
    expect(await livePods()).toEqual([]);
  });

  it('names each missing permission and exits 1 when a required one is denied', async () => {
    const kubeconfig = await serviceAccountKubeconfig(NS, 'cli-limited', [
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'list', 'delete', 'patch'] },
    ]);
    const run = await kubecache(['doctor', '--no-pods'], { KUBECONFIG: kubeconfig });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toMatch(/FAIL {2}rbac pods delete: denied in namespace kc-cli/);
    expect(run.stdout).toMatch(/warn {2}rbac pods\/exec create: denied/);
    expect(run.stdout).toContain('verbs: ["delete"]');
    expect(run.stdout).toMatch(/ok {4}rbac pods create: allowed/);
  });

  it('says a namespace does not exist: doctor fails that line, ls and reap exit 5', async () => {
    const missing = 'kc-cli-no-such-namespace';
    // Listing in a missing namespace answers an empty 200: ls said "0 runs"
    // and doctor --no-pods passed.
    const doctor = await kubecache(['-n', missing, 'doctor', '--json']);
    expect(doctor.code).toBe(1);
    const checks = json<{ checks: Check[] }>(doctor).checks;
    const line = checks.find((c) => c.name === 'namespace');
    expect(line?.status).toBe('fail');
    expect(line?.next).toContain(`kubectl create namespace ${missing}`);
    // No probe pods were tried in it.
    expect(checks.some((c) => c.name.startsWith('image '))).toBe(false);
    for (const command of [['ls'], ['reap'], ['reap', '--all', '--dry-run']]) {
      const run = await kubecache(['-n', missing, ...command]);
      expect(run.code, command.join(' ')).toBe(5);
      expect(run.stderr).toMatch(
        /^kubecache: \[NAMESPACE_NOT_FOUND\] the namespace "kc-cli-no-such-namespace" \(given with --namespace\)/,
      );
      // The next step is the flag the user typed, not a config option.
      expect(run.stderr).toContain('or pass --namespace with an existing one');
      expect(run.stdout).toBe('');
    }
  });

  it('fails fast with the server named when the API server does not answer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubecache-cli-'));
    const kubeconfig = writeDeadKubeconfig(join(dir, 'dead.kubeconfig'));
    try {
      const doctor = await kubecache(['--kubeconfig', kubeconfig, 'doctor']);
      expect(doctor.code).toBe(1);
      expect(doctor.stdout).toMatch(/FAIL {2}api server: .*127\.0\.0\.1:9/);
      const ls = await kubecache(['--kubeconfig', kubeconfig, 'ls']);
      expect(ls.code).toBe(3);
      expect(ls.stderr).toContain('UNREACHABLE');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('kubecache ls, snapshot and reap', () => {
  const env = { KUBECACHE_NAMESPACE: NS };
  const children: ChildProcess[] = [];
  let broker: Broker;
  let redis: CacheLease;
  let memcached: CacheLease;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubecache-cli-'));
    broker = await Broker.start({
      progress: () => {},
      env: { KUBECONFIG: adminKubeconfigPath(), ...env },
    });
    [redis, memcached] = await Promise.all([
      // Locked (the default): snapshot needs the lease's admin login, see below.
      broker.acquire({ engine: 'redis', worker: '1' }),
      broker.acquire({ engine: 'memcached', worker: '1' }),
    ]);
    const client = await createRedisClient(
      { host: redis.host, port: redis.port },
      { username: redis.auth?.username, password: redis.auth?.password },
    );
    try {
      await client.set('s', 'v');
      await client.hset('h', { a: '1' });
      await client.rpush('l', 'x', 'y');
      await client.sadd('st', 'm');
      await client.zadd('z', 1, 'one');
      await client.set('t', 'ttl', 'EX', 3600);
    } finally {
      await closeRedisClient(client);
    }
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await broker?.teardown();
    await rm(dir, { recursive: true, force: true });
  });

  /** A runner that is SIGKILLed: its pods stay behind with a short lease that runs out. */
  async function crashedRun(): Promise<{ runId: string; pods: string[] }> {
    const child = spawn(process.execPath, [join(here, 'fixtures/run-broker.mjs'), 'redis'], {
      env: {
        ...process.env,
        KUBECONFIG: adminKubeconfigPath(),
        ...env,
        KUBECACHE_TIMEOUT_LEASE_MS: '3000',
        KUBECACHE_TIMEOUT_LEASE_RENEW_MS: '1000',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const line = await new Promise<string>((res, rej) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) res(out.split('\n')[0] ?? '');
      });
      child.on('exit', (code) => rej(new Error(`runner exited early with ${code}`)));
    });
    const parsed = JSON.parse(line) as { runId: string; leases: CacheLease[] };
    child.kill('SIGKILL');
    // Past the lease (3 s from the last renewal, which may have come just
    // before the kill) plus the reaper's clock margin, with a second to spare.
    await new Promise((r) => setTimeout(r, 3000 + CLOCK_MARGIN_MS + 1000));
    return { runId: parsed.runId, pods: parsed.leases.map((l) => l.podName) };
  }

  it('ls shows the live run with its pods, leases and holder', async () => {
    const run = await kubecache(['ls', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    const report = json<{
      namespace: string;
      runs: {
        run: string;
        host: string;
        pid: number;
        lease: string;
        pods: { name: string; engine: string; lease: string; leaseInMs: number }[];
      }[];
    }>(run);
    expect(report.namespace).toBe(NS);
    const mine = report.runs.find((r) => r.run === broker.runId);
    expect(mine).toMatchObject({ host: hostname(), pid: process.pid, lease: 'live' });
    expect(mine?.pods.map((p) => p.name).sort()).toEqual([redis.podName, memcached.podName].sort());
    expect(mine?.pods.every((p) => p.lease === 'live' && p.leaseInMs > 0)).toBe(true);
    const human = await kubecache(['ls'], env);
    expect(human.stdout).toContain(`namespace ${NS}`);
    expect(human.stdout).toContain(redis.podName);
    expect(human.stdout).toMatch(new RegExp(`${broker.runId}\\s+${hostname()}:${process.pid}`));
  });

  /** `kubecache snapshot` of the run's redis pod with --json, logged in as its admin (who may SYNC). */
  async function snapshotAsAdmin(file: string, extra: string[] = []) {
    const admin = redis.admin;
    expect(admin).toBeDefined();
    return kubecache(
      [
        '-n',
        NS,
        'snapshot',
        redis.podName,
        file,
        '--json',
        '--user',
        admin?.username ?? '',
        '--password-stdin',
        ...extra,
      ],
      {},
      `${admin?.password}\n`,
    );
  }

  it('snapshot writes the dataset as an RDB file that check reads back', async () => {
    const file = join(dir, 'snap.rdb');
    // A locked cache needs a login allowed to SYNC; only the run knows it.
    const refused = await kubecache(['-n', NS, 'snapshot', redis.podName, file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is locked (auth on)');
    const snap = await snapshotAsAdmin(file);
    expect(snap.code, snap.stderr).toBe(0);
    expect(json<{ bytes: number; via: string }>(snap)).toMatchObject({ via: 'pod-ip' });
    const check = await kubecache(['check', file, '--json']);
    expect(check.code, check.stdout).toBe(0);
    expect(json(check)).toMatchObject({
      format: 'rdb',
      ok: true,
      keys: 6,
      types: { string: 2, hash: 1, list: 1, set: 1, zset: 1 },
      expiring: 1,
    });
  });

  it('snapshot --timeout-ms: a bad value is a usage error (2), too short a TIMEOUT (5) naming the flag, a generous one writes the file', async () => {
    const snapshot = (file: string, timeoutMs: string) =>
      snapshotAsAdmin(file, ['--timeout-ms', timeoutMs]);
    const bad = await snapshot(join(dir, 'bad.rdb'), '0');
    expect(bad.code, bad.stderr).toBe(2);
    expect(json<{ error: { code: string; message: string } }>(bad).error).toMatchObject({
      code: 'BAD_OPTION',
      message: expect.stringContaining('--timeout-ms: got "0"'),
    });

    const cut = join(dir, 'cut.rdb');
    const short = await snapshot(cut, '1');
    expect(short.code, short.stdout + short.stderr).toBe(5);
    const { error } = json<{
      error: { code: string; message: string; details: { timeoutMs: number } };
    }>(short);
    expect(error.code).toBe('TIMEOUT');
    expect(error.details.timeoutMs).toBe(1);
    expect(error.message).toContain('within its limit of 1 ms');
    expect(error.message).toContain(
      'run it again with a larger --timeout-ms, such as --timeout-ms ',
    );
    expect(error.message).not.toContain('cache.snapshot(');
    expect(existsSync(cut) || existsSync(`${cut}.part`)).toBe(false);

    const file = join(dir, 'generous.rdb');
    const ok = await snapshot(file, '120000');
    expect(ok.code, ok.stderr).toBe(0);
    const check = await kubecache(['check', file, '--json']);
    expect(check.code, check.stdout).toBe(0);
    expect(json(check)).toMatchObject({ format: 'rdb', ok: true, keys: 6 });
  });

  it('snapshot refuses a memcached pod (2) and an unknown pod (5)', async () => {
    const mc = await kubecache(['snapshot', memcached.podName, join(dir, 'x.rdb')], env);
    expect(mc.code).toBe(2);
    expect(mc.stderr).toContain('has no snapshot');
    const missing = await kubecache(['snapshot', 'kc-no-such-pod', join(dir, 'y.rdb')], env);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain('no kubecache pod kc-no-such-pod');
  });

  it('snapshot refuses a locked cache (2), saying how to snapshot it instead', async () => {
    const locked = await broker.acquire({ engine: 'redis', worker: 'locked' });
    try {
      const r = await kubecache(['snapshot', locked.podName, join(dir, 'z.rdb')], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('is locked (auth on)');
      expect(r.stderr).toContain('cache.snapshot(path)');
    } finally {
      await broker.release(locked.id, { destroy: true });
    }
  });

  it('reap deletes expired leases only, --run one run, and --all only when confirmed', async () => {
    const crashed = await crashedRun();
    const ls = json<{ runs: { run: string; lease: string }[] }>(
      await kubecache(['ls', '--json'], env),
    );
    expect(ls.runs.find((r) => r.run === crashed.runId)?.lease).toBe('expired');

    const dry = await kubecache(['reap', '--dry-run', '--json'], env);
    expect(json<{ pods: string[] }>(dry).pods).toEqual(crashed.pods);
    expect(await livePods(runSelector(crashed.runId))).toEqual(crashed.pods);

    const reaped = await kubecache(['reap'], env);
    expect(reaped.code, reaped.stderr).toBe(0);
    expect(reaped.stdout).toContain(`pod/${crashed.pods[0]}`);
    expect(await livePods(runSelector(crashed.runId))).toEqual([]);
    // The live run keeps its pods.
    expect(await livePods(runSelector(broker.runId))).toEqual(
      [redis.podName, memcached.podName].sort(),
    );

    // --all without a terminal, or in CI, refuses and deletes nothing.
    for (const extra of [{ CI: '' }, { CI: 'true' }] as Record<string, string>[]) {
      const refused = await kubecache(['reap', '--all'], { ...env, ...extra });
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('Rerun with --yes');
    }
    expect(await livePods(runSelector(broker.runId))).toHaveLength(2);

    const one = await kubecache(['reap', '--run', broker.runId, '--json'], env);
    expect(one.code).toBe(0);
    expect(json<{ pods: string[] }>(one).pods.sort()).toEqual(
      [redis.podName, memcached.podName].sort(),
    );
    expect(await livePods(runSelector(broker.runId))).toEqual([]);

    const other = await broker.acquire({ engine: 'redis', worker: '2' });
    const all = await kubecache(['reap', '--all', '--yes'], { ...env, CI: 'true' });
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain(`pod/${other.podName}`);
    expect(await livePods()).toEqual([]);
    // `ls` also lists pods still terminating (marked "deleting"); on
    // containerd 1.6 the kubelet takes a few seconds to finish them.
    let empty = await kubecache(['ls'], env);
    for (let i = 0; i < 30 && !empty.stdout.includes('0 runs, 0 pods'); i++) {
      expect(empty.stdout).toContain('deleting');
      await new Promise((r) => setTimeout(r, 1000));
      empty = await kubecache(['ls'], env);
    }
    expect(empty.stdout).toContain('0 runs, 0 pods');
  });
});

describe('the shell examples of README.md and docs/cli.md', () => {
  /** Every ```sh block using the CLI, unless marked `<!-- doc-test: skip ... -->`. */
  async function examples(doc: string): Promise<{ where: string; script: string }[]> {
    const lines = (await readFile(join(repo, doc), 'utf8')).split('\n');
    const out: { where: string; script: string }[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]?.trim() !== '```sh') continue;
      const skipped = /<!--\s*doc-test:\s*skip/.test(lines[i - 1] ?? '');
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && lines[j]?.trim() !== '```'; j++) body.push(lines[j] ?? '');
      const script = body.join('\n');
      // Only the CLI's examples; the developer commands (npm test, ...) are not for here.
      if (!skipped && script.includes('npx kubecache'))
        out.push({ where: `${doc}:${i + 1}`, script });
      i = j;
    }
    return out;
  }

  it('run against the dev cluster and exit 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubecache-cli-doc-'));
    try {
      const blocks = [...(await examples('README.md')), ...(await examples('docs/cli.md'))];
      expect(blocks.length).toBeGreaterThanOrEqual(4);
      for (const block of blocks) {
        // As in a project with kubecache installed: `npx kubecache` is the built bin.
        const script = `set -e\nkubecache() { "${process.execPath}" "${bin}" "$@"; }\n${block.script.replaceAll('npx kubecache', 'kubecache')}`;
        const run = await new Promise<Run>((res) => {
          const child = spawn('sh', ['-c', script], {
            cwd: dir,
            env: {
              ...process.env,
              KUBECONFIG: adminKubeconfigPath(),
              KUBECACHE_NAMESPACE: NS,
              CI: 'true',
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => {
            stdout += d.toString();
          });
          child.stderr.on('data', (d: Buffer) => {
            stderr += d.toString();
          });
          child.on('exit', (code) => res({ code, stdout, stderr }));
        });
        expect(run.code, `${block.where}\n${run.stdout}\n${run.stderr}`).toBe(0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
