import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import getPort from 'get-port';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pushRetryable } from '../../src/broker/seeding.js';
import { isKubecacheError, KubecacheError } from '../../src/errors.js';
import {
  buildSeedCommand,
  execPushCommand,
  PUSH_CUT_SHORT_EXIT,
  type SeedCommandInput,
} from '../../src/seed/loader-script.js';
import { RdbEndpoint } from '../../src/seed/rdb-endpoint.js';
import { type RdbFixtureInfo, validateRdbFixture } from '../../src/seed/rdb-file.js';
import {
  canConnect,
  HOST,
  makeRdb,
  removeDir,
  run,
  tempDir,
  waitFor,
  withClient,
} from './seed-fixtures/dataset.js';

// The cache image offers busybox and redis-server; the tests run the script
// with a PATH holding just those, so it cannot lean on anything else.
const APPLETS = ['sh', 'wget', 'sha256sum', 'stat', 'cat', 'sleep', 'mv', 'touch', 'rm'];

let root: string;
let bin: string;
let fixture: RdbFixtureInfo;
let endpoint: RdbEndpoint;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  root = await tempDir();
  bin = join(root, 'bin');
  await mkdir(bin);
  for (const applet of APPLETS) await symlink('/usr/bin/busybox', join(bin, applet));
  await symlink('/usr/bin/redis-server', join(bin, 'redis-server'));
  const path = join(root, 'fixture.rdb');
  await makeRdb(path, async (client) => {
    await client.set('seeded', 'yes');
    await client.rpush('queue', 'a', 'b', 'c');
    await client.hset('user:1', { name: 'Ada', role: 'admin' });
  });
  fixture = await validateRdbFixture(path);
  endpoint = await RdbEndpoint.start({ host: HOST, advertiseHost: HOST });
});

afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  children.clear();
});

afterAll(async () => {
  await endpoint?.close();
  await removeDir(root);
});

interface Started {
  child: ChildProcess;
  port: number;
  dataDir: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

let counter = 0;

async function startScript(
  input: Omit<SeedCommandInput, 'redisArgv' | 'dataDir'>,
  env: NodeJS.ProcessEnv = {},
): Promise<Started> {
  const port = await getPort({ host: HOST });
  // A space and a quote in the path prove the script quotes its directory.
  const dataDir = join(root, `data ${++counter} it's`);
  await mkdir(dataDir);
  const redisArgv = [
    'redis-server',
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    '--appendonly',
    'no',
  ];
  const argv = buildSeedCommand({ ...input, redisArgv, dataDir });
  expect(argv[0]).toBe('sh');
  const child = spawn(join(bin, 'sh'), argv.slice(1), {
    env: { PATH: bin, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, port, dataDir, stderr: () => stderr, exited };
}

/** Waits until redis answers or the script exits, whichever comes first. */
async function redisUp(started: Started): Promise<boolean> {
  return waitFor(
    async () => started.child.exitCode !== null || (await canConnect(started.port)),
    10_000,
  ).then(async () => started.child.exitCode === null && canConnect(started.port));
}

async function expectSeeded(started: Started): Promise<void> {
  expect(await redisUp(started), started.stderr()).toBe(true);
  await withClient({ host: HOST, port: started.port }, async (client) => {
    expect(await client.get('seeded')).toBe('yes');
    expect(await client.lrange('queue', 0, -1)).toEqual(['a', 'b', 'c']);
    expect(await client.hgetall('user:1')).toEqual({ name: 'Ada', role: 'admin' });
    // exec replaced the shell, so redis is the container's main process.
    const info = await client.info('server');
    expect(info).toContain(`process_id:${started.child.pid}`);
    expect(await client.config('GET', 'dbfilename')).toEqual(['dbfilename', 'dump.rdb']);
  });
  expect((await stat(join(started.dataDir, 'dump.rdb'))).size).toBe(fixture.size);
  await expect(stat(join(started.dataDir, 'dump.rdb.part'))).rejects.toThrow(/ENOENT/);
}

async function expectFailure(started: Started, message: RegExp): Promise<void> {
  const code = await started.exited;
  expect(code).not.toBe(0);
  expect(started.stderr()).toMatch(message);
  expect(await canConnect(started.port)).toBe(false);
  await expect(stat(join(started.dataDir, 'dump.rdb'))).rejects.toThrow(/ENOENT/);
}

function httpInput(overrides: Partial<SeedCommandInput> = {}) {
  return {
    transport: 'http' as const,
    expectedSize: fixture.size,
    expectedSha256: fixture.sha256,
    markerTimeoutSeconds: 5,
    ...overrides,
  };
}

function seedEnv(podName: string): NodeJS.ProcessEnv {
  const reg = endpoint.register({ file: fixture, podName, ttlMs: 60_000 });
  return { KUBECACHE_SEED_URL: reg.url, KUBECACHE_SEED_TOKEN: reg.token };
}

describe('buildSeedCommand', () => {
  it('wraps the redis argv and keeps secrets out of the command', () => {
    const argv = buildSeedCommand({
      transport: 'http',
      redisArgv: ['redis-server', '--save', '', '--port', '6379'],
      expectedSize: 123,
      expectedSha256: 'AB'.repeat(32),
      markerTimeoutSeconds: 30,
    });
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual([
      'kubecache-seed',
      'redis-server',
      '--save',
      '',
      '--port',
      '6379',
    ]);
    const script = argv[2] as string;
    expect(script).toContain('$KUBECACHE_SEED_URL');
    expect(script).toContain('Authorization: Bearer $KUBECACHE_SEED_TOKEN');
    expect(script).toContain('ab'.repeat(32));
    expect(script).toContain('dir=/data\n');
    expect(script).toContain('exec "$@" --dir "$dir" --dbfilename dump.rdb');
  });

  it('builds the exec push command, which hands over only a whole file', () => {
    const [sh, flag, script] = execPushCommand(1234);
    expect([sh, flag]).toEqual(['sh', '-c']);
    expect(script).toContain('p=/data/dump.rdb.part.$$; cat > "$p"');
    expect(script).toContain('[ "$(stat -c %s "$p")" = 1234 ]');
    expect(script).toContain(`exit ${PUSH_CUT_SHORT_EXIT}`);
    expect(script).toContain('mv "$p" /data/dump.rdb.part && touch /data/.kubecache-seed-done');
    expect(execPushCommand(7, "/tmp/a b's")[2]).toContain(
      "p='/tmp/a b'\\''s'/dump.rdb.part.$$; cat > \"$p\"",
    );
    for (const size of [-1, 1.5, Number.NaN]) {
      expect(() => execPushCommand(size)).toThrow(/expectedSize as a byte count/);
    }
  });

  it('rejects inputs that would make a broken script', () => {
    const base = {
      transport: 'exec' as const,
      redisArgv: ['redis-server'],
      expectedSize: 10,
      expectedSha256: '0'.repeat(64),
      markerTimeoutSeconds: 5,
    };
    const bad: Array<Partial<SeedCommandInput>> = [
      { expectedSize: -1 },
      { expectedSize: 1.5 },
      { expectedSha256: 'abc' },
      { expectedSha256: `${'0'.repeat(63)}g` },
      { markerTimeoutSeconds: 0 },
      { redisArgv: [] },
      { dataDir: 'relative' },
      { transport: 'ftp' as 'http' },
    ];
    for (const override of bad) {
      let err: unknown;
      try {
        buildSeedCommand({ ...base, ...override });
      } catch (e) {
        err = e;
      }
      expect(isKubecacheError(err), JSON.stringify(override)).toBe(true);
    }
  });
});

describe('seed script under busybox sh', () => {
  it('http: downloads, verifies and starts redis on the fixture', async () => {
    const served = endpoint.stats().served;
    const started = await startScript(httpInput(), seedEnv('pod-http'));
    await expectSeeded(started);
    expect(endpoint.stats().served).toBe(served + 1);
  });

  it('http: a wrong size stops the pod before redis starts', async () => {
    const started = await startScript(
      httpInput({ expectedSize: fixture.size + 1 }),
      seedEnv('pod-size'),
    );
    await expectFailure(
      started,
      new RegExp(`has ${fixture.size} bytes, expected ${fixture.size + 1}`),
    );
  });

  it('http: a wrong sha256 stops the pod before redis starts', async () => {
    const started = await startScript(
      httpInput({ expectedSha256: 'f'.repeat(64) }),
      seedEnv('pod-sha'),
    );
    await expectFailure(started, new RegExp(`has sha256 ${fixture.sha256}, expected f{64}`));
  });

  it('http: a refused download fails with a hint', async () => {
    const env = seedEnv('pod-token');
    const started = await startScript(httpInput(), { ...env, KUBECACHE_SEED_TOKEN: 'wrong' });
    await expectFailure(started, /downloading the RDB fixture from http:.* failed/);
  }, 15_000);

  it('http: missing variables are named', async () => {
    const started = await startScript(httpInput(), {});
    await expectFailure(started, /KUBECACHE_SEED_URL is not set/);
  });

  it('exec: waits for the pushed file and its marker, then starts redis', async () => {
    const started = await startScript(httpInput({ transport: 'exec', markerTimeoutSeconds: 20 }));
    await new Promise((r) => setTimeout(r, 300));
    expect(started.child.exitCode).toBeNull();
    expect(await canConnect(started.port)).toBe(false);
    const push = execPushCommand(fixture.size, started.dataDir);
    const pushed = await run([join(bin, 'sh'), ...push.slice(1)], {
      env: { PATH: bin },
      stdin: await readFile(fixture.path),
    });
    expect(pushed.code, pushed.stderr).toBe(0);
    await expectSeeded(started);
  });

  it('exec: a push cut short (its stdin closed early) hands nothing over; the retried push seeds', async () => {
    // What the kubelet does to the push when the API server dies mid-push:
    // it closes the command's stdin, so cat ends with part of the file.
    const started = await startScript(httpInput({ transport: 'exec', markerTimeoutSeconds: 20 }));
    const whole = await readFile(fixture.path);
    const push = [join(bin, 'sh'), ...execPushCommand(fixture.size, started.dataDir).slice(1)];
    const cut = await run(push, {
      env: { PATH: bin },
      stdin: whole.subarray(0, whole.length >> 1),
    });
    // Its own exit status, which the runner retries (pushRetryable).
    expect(cut.code).toBe(PUSH_CUT_SHORT_EXIT);
    expect(cut.stderr).toContain(`the push ended before all ${fixture.size} bytes arrived`);
    await new Promise((r) => setTimeout(r, 300));
    // The loader still waits: no marker, no partial file, no per-attempt file left.
    expect(started.child.exitCode).toBeNull();
    expect(await readdir(started.dataDir)).toEqual([]);
    const retried = await run(push, { env: { PATH: bin }, stdin: whole });
    expect(retried.code, retried.stderr).toBe(0);
    await expectSeeded(started);
  });

  it('exec: a push that cannot write its file exits 1, which is final, and hands nothing over', async () => {
    const missing = join(root, 'no such dir');
    const push = [join(bin, 'sh'), ...execPushCommand(fixture.size, missing).slice(1)];
    const failed = await run(push, { env: { PATH: bin }, stdin: await readFile(fixture.path) });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('kubecache-seed: writing');
    expect(pushRetryable(exitError(failed.code))).toBe(false);
  });

  it('exec: a corrupted push fails the checksum', async () => {
    const started = await startScript(httpInput({ transport: 'exec' }));
    const corrupt = await readFile(fixture.path);
    corrupt[20] = (corrupt[20] as number) ^ 0xff;
    await writeFile(join(started.dataDir, 'dump.rdb.part'), corrupt);
    await writeFile(join(started.dataDir, '.kubecache-seed-done'), '');
    await expectFailure(started, /has sha256 [0-9a-f]{64}, expected/);
  });

  it('exec: gives up after markerTimeoutSeconds', async () => {
    const began = Date.now();
    const started = await startScript(httpInput({ transport: 'exec', markerTimeoutSeconds: 0.3 }));
    await expectFailure(started, /no fixture arrived within 0\.3s/);
    expect(Date.now() - began).toBeLessThan(5000);
  });
});

/** The error the runner makes of a push's exit status (src/broker/seeding.ts). */
function exitError(exitCode: number | null): KubecacheError {
  return new KubecacheError('EXEC_FAILED', `push exited ${exitCode}`, { exitCode });
}

describe('pushRetryable: which failed exec pushes are tried again', () => {
  it('retries what says nothing about the push: no container yet, a dropped connection, a stream cut short', () => {
    expect(pushRetryable(new Error('socket hang up'))).toBe(true);
    expect(pushRetryable(new KubecacheError('UNREACHABLE', 'no answer', {}))).toBe(true);
    expect(pushRetryable(new KubecacheError('EXEC_FAILED', 'no status', {}))).toBe(true);
    expect(pushRetryable(exitError(PUSH_CUT_SHORT_EXIT))).toBe(true);
  });

  it('stops at what would fail the same way again', () => {
    expect(pushRetryable(exitError(1))).toBe(false);
    expect(pushRetryable(exitError(127))).toBe(false);
    expect(pushRetryable(new KubecacheError('FORBIDDEN', 'no exec', {}))).toBe(false);
    expect(pushRetryable(new KubecacheError('BAD_FIXTURE', 'gone', {}))).toBe(false);
  });
});
