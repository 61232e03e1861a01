import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkJson, formatFixtureReport } from '../../src/cli/check.js';
import { confirmDecision, isYes } from '../../src/cli/confirm.js';
import { accessChecks } from '../../src/cli/doctor.js';
import { EXIT, exitCodeFor } from '../../src/cli/exit-codes.js';
import type { CliIO } from '../../src/cli/io.js';
import { formatLs } from '../../src/cli/ls.js';
import { formatCheck, formatDuration, formatLease, formatTable } from '../../src/cli/output.js';
import { runCli } from '../../src/cli/program.js';
import { reapScope } from '../../src/cli/reap.js';
import { parseTimeoutMs, podLocks } from '../../src/cli/snapshot.js';
import { kubeTarget, resolveCliCluster } from '../../src/cli/target.js';
import { KubecacheError } from '../../src/errors.js';
import { writeDeadKubeconfig } from '../support/dead-kubeconfig.js';

function memoryIO(env: NodeJS.ProcessEnv = {}): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    stdin: new PassThrough(),
    promptOutput: new PassThrough(),
    env,
    cwd: process.cwd(),
    exitCode: 0,
  };
}

describe('output formatting', () => {
  it('gives coarse durations like kubectl', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(119_999)).toBe('119s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(3_900_000)).toBe('1h5m');
    expect(formatDuration(90_000_000)).toBe('1d1h');
    expect(formatDuration(-5)).toBe('0s');
  });

  it('says how long a lease has left or since when it expired', () => {
    expect(formatLease(45_000)).toBe('45s left');
    expect(formatLease(-180_000)).toBe('expired 3m ago');
    expect(formatLease(undefined)).toBe('none');
  });

  it('aligns table columns and trims trailing space', () => {
    expect(
      formatTable(
        ['A', 'BB'],
        [
          ['long', 'x'],
          ['s', ''],
        ],
      ),
    ).toBe('A     BB\nlong  x\ns');
  });

  it('prints a check with its next step', () => {
    expect(
      formatCheck({
        name: 'image redis',
        status: 'fail',
        summary: 'cannot pull',
        next: 'set imagePullSecrets',
      }),
    ).toBe('FAIL  image redis: cannot pull\n      next: set imagePullSecrets');
    expect(formatCheck({ name: 'config', status: 'ok', summary: 'fine' })).toBe(
      'ok    config: fine',
    );
  });

  it('lists runs and their pods', () => {
    const text = formatLs({
      namespace: 'ci',
      context: 'dev',
      now: '2026-01-01T00:00:00.000Z',
      runs: [
        {
          run: 'abcdefghij',
          host: 'ci-7',
          pid: 42,
          ageMs: 200_000,
          leaseInMs: 30_000,
          lease: 'live',
          secrets: [],
          pods: [
            {
              name: 'kc-redis-1-abcdefghij-1234abcd',
              run: 'abcdefghij',
              worker: '1',
              engine: 'redis',
              phase: 'Running',
              ready: true,
              ageMs: 200_000,
              leaseInMs: 30_000,
              lease: 'live',
              deleting: false,
              reuse: 'idle',
              reuseKey: 'k1',
              extra: { note: 'x' },
            },
          ],
        },
      ],
    });
    expect(text).toContain('namespace ci (context dev): 1 run, 1 pod');
    expect(text).toMatch(/abcdefghij\s+ci-7:42\s+3m\s+live, 30s left\s+1\s+0/);
    expect(text).toMatch(
      /kc-redis-1-abcdefghij-1234abcd\s+redis\s+1\s+Running\s+3m\s+30s left\s+idle \(kept for reuse\),note=x/,
    );
    expect(formatLs({ namespace: 'ci', context: 'dev', now: '', runs: [] })).toContain(
      'no kubecache pods or secrets here.',
    );
  });

  it('names a JSON syntax error once, not once per engine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kc-check-'));
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "user:1": { "type": "hash", "value": { "name": "ada", } } }');
    const report = await checkJson(broken, {});
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toContain('is not valid JSON');
    expect(report.problems[0]).not.toMatch(/^as a /);
    // Valid JSON that fits no engine still says why for each.
    const neither = join(dir, 'neither.json');
    writeFileSync(neither, '{ "k": { "type": "hash", "value": {} } }');
    const per = await checkJson(neither, {});
    expect(per.problems.map((p) => p.split(':')[0])).toEqual([
      'as a redis seed',
      'as a memcached seed',
      'as a valkey seed',
    ]);
  });

  it('reports a fixture with its problems', () => {
    const text = formatFixtureReport({
      file: '/f.rdb',
      format: 'rdb',
      ok: false,
      problems: ['RDB version 12 is newer than 10'],
      magic: 'REDIS',
      rdbVersion: 12,
      checksum: { stored: '0x0000000000000000', matches: true },
      keys: 3,
      types: { string: 2, hash: 1 },
      expiring: 1,
      databases: { 0: 2, 3: 1 },
      aux: { 'redis-ver': '7.4.1' },
    });
    expect(text).toContain('/f.rdb: RDB file, PROBLEMS');
    expect(text).toContain('version   12 (written by redis 7.4.1)');
    expect(text).toContain('checksum  disabled by the writer (0), not checked');
    expect(text).toContain('keys      3 (hash 1, string 2), 1 with a TTL');
    expect(text).toContain('databases db0 2, db3 1');
    expect(text).toContain('problem: RDB version 12 is newer than 10');
  });
});

describe('doctor access lines', () => {
  it('fails on a missing pods verb, warns on a missing exec, and names the rule to add', () => {
    const checks = accessChecks(
      [
        { group: '', resource: 'pods', verb: 'create', allowed: true },
        { group: '', resource: 'pods', verb: 'delete', allowed: false },
        { group: '', resource: 'pods', subresource: 'exec', verb: 'create', allowed: false },
      ],
      'ci',
    );
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['rbac pods create', 'ok'],
      ['rbac pods delete', 'fail'],
      ['rbac pods/exec create', 'warn'],
    ]);
    expect(checks[1]?.next).toContain('resources: ["pods"], verbs: ["delete"]');
    expect(checks[2]?.next).toContain('verbs: ["create", "get"]');
  });
});

describe('argument parsing and exit codes', () => {
  it('maps errors to the documented exit codes', () => {
    expect(exitCodeFor(new KubecacheError('BAD_OPTION', 'x'))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new KubecacheError('UNREACHABLE', 'x'))).toBe(EXIT.CLUSTER);
    expect(exitCodeFor(new KubecacheError('FORBIDDEN', 'x'))).toBe(EXIT.CLUSTER);
    expect(exitCodeFor(new KubecacheError('BAD_FIXTURE', 'x'))).toBe(EXIT.PROBLEMS);
    expect(exitCodeFor(new KubecacheError('POD_GONE', 'x'))).toBe(EXIT.FAILED);
    expect(exitCodeFor(new Error('x'))).toBe(EXIT.FAILED);
  });

  it('exits 2 on an unknown command, flag or missing argument, 0 on --help', async () => {
    for (const argv of [['nope'], ['ls', '--bogus'], ['snapshot', 'only-pod'], ['check']]) {
      const io = memoryIO();
      expect(await runCli(argv, io), argv.join(' ')).toBe(EXIT.USAGE);
      expect(io.stderr.join('\n')).toMatch(/error: /);
    }
    const help = memoryIO();
    expect(await runCli(['--help'], help)).toBe(EXIT.OK);
    expect(help.stdout.join('\n')).toContain('Exit codes: 0 ok, 1 problems found, 2 usage error');
  });

  it('rejects --run with --all and a malformed run id before touching a cluster', async () => {
    // No kubeconfig is reachable from this env, so reaching the cluster would exit 3.
    const env = { KUBECONFIG: '/nonexistent/kubeconfig' };
    const both = memoryIO(env);
    expect(await runCli(['reap', '--run', 'abcdefghij', '--all'], both)).toBe(EXIT.USAGE);
    expect(both.stderr.join('\n')).toContain('--run and --all exclude each other');
    const bad = memoryIO(env);
    expect(await runCli(['--json', 'reap', '--run', 'Not-An-Id'], bad)).toBe(EXIT.USAGE);
    const out = JSON.parse(bad.stdout.join('\n')) as { error: { code: string; message: string } };
    expect(out.error.code).toBe('BAD_OPTION');
    expect(out.error.message).toContain('is not a kubecache run id');
  });

  it('exits 3 without a kubeconfig, and names the error code once', async () => {
    expect(exitCodeFor(new KubecacheError('NO_CLUSTER', 'x'))).toBe(EXIT.CLUSTER);
    const io = memoryIO();
    expect(await runCli(['--kubeconfig', '/nonexistent/kubeconfig', 'ls'], io)).toBe(EXIT.CLUSTER);
    const said = io.stderr.join('\n');
    expect(said).toMatch(/^kubecache: \[NO_CLUSTER\] .*\/nonexistent\/kubeconfig/);
    expect(said.match(/NO_CLUSTER/g)).toHaveLength(1);
  });

  it('reads the reap scope from the flags', () => {
    expect(reapScope({})).toEqual({ kind: 'expired' });
    expect(reapScope({ all: true })).toEqual({ kind: 'all' });
    expect(reapScope({ run: '0123456789' })).toEqual({ kind: 'run', runId: '0123456789' });
  });

  it('asks only on a terminal outside CI, and only "y" or "yes" confirms', () => {
    expect(confirmDecision({ yes: true, stdinIsTTY: false, env: { CI: 'true' } })).toEqual({
      kind: 'yes',
    });
    expect(confirmDecision({ yes: false, stdinIsTTY: true, env: { CI: 'true' } })).toMatchObject({
      kind: 'refuse',
    });
    expect(confirmDecision({ yes: false, stdinIsTTY: false, env: {} })).toMatchObject({
      kind: 'refuse',
      why: 'standard input is not a terminal',
    });
    expect(confirmDecision({ yes: false, stdinIsTTY: true, env: { CI: 'false' } })).toEqual({
      kind: 'ask',
    });
    expect(['y', 'YES', ' yes '].every(isYes)).toBe(true);
    expect(['', 'n', 'yep', 'no'].some(isYes)).toBe(false);
  });
});

describe('cluster settings for a command', () => {
  it('lets flags win over KUBECACHE_* variables, which win over the config file', () => {
    const env = { KUBECACHE_NAMESPACE: 'from-env', KUBECACHE_CONTEXT: 'env-ctx' };
    const options = { namespace: 'from-file', context: 'file-ctx', kubeconfig: '/file/kubeconfig' };
    const none = resolveCliCluster(options, {}, env);
    expect([none.namespace, none.context, none.kubeconfig]).toEqual([
      'from-env',
      'env-ctx',
      '/file/kubeconfig',
    ]);
    const flags = resolveCliCluster(
      options,
      { namespace: 'from-flag', context: 'flag-ctx', kubeconfig: '/k' },
      env,
    );
    expect([flags.namespace, flags.context, flags.kubeconfig]).toEqual([
      'from-flag',
      'flag-ctx',
      '/k',
    ]);
    expect(kubeTarget(flags).namespace).toBe('from-flag');
  });

  it('leaves the namespace to the kubeconfig context when nobody chose one', () => {
    expect(kubeTarget(resolveCliCluster({}, {}, {})).namespace).toBeUndefined();
  });

  it('rejects an invalid namespace flag as a usage error', async () => {
    expect(() => resolveCliCluster({}, { namespace: 'Not_Valid' }, {})).toThrow(/namespace/);
    const io = memoryIO({ KUBECONFIG: '/nonexistent/kubeconfig' });
    expect(await runCli(['-n', 'Not_Valid', 'ls'], io)).toBe(EXIT.USAGE);
  });
});

describe("the command's environment, not this process's", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reads the kubeconfig its env names even when the process has another KUBECONFIG', async () => {
    // The process points at a cluster (as in CI, where the dev cluster is up);
    // the command's env points nowhere: the command must say NO_CLUSTER, not
    // talk to the process's cluster. It did talk to it once (connect() read
    // process.env), which only a CI run with a live cluster showed.
    const dir = mkdtempSync(join(tmpdir(), 'kc-cli-env-'));
    const other = writeDeadKubeconfig(join(dir, 'process.kubeconfig'));
    vi.stubEnv('KUBECONFIG', other);
    for (const argv of [
      ['--json', 'ls'],
      ['--json', 'snapshot', 'p', 'x.rdb'],
    ]) {
      const io = memoryIO({ KUBECONFIG: join(dir, 'missing.kubeconfig') });
      expect(await runCli(argv, io), argv.join(' ')).toBe(EXIT.CLUSTER);
      const out = JSON.parse(io.stdout.join('\n')) as { error: { code: string; message: string } };
      expect(out.error.code).toBe('NO_CLUSTER');
      expect(out.error.message).toContain('missing.kubeconfig');
    }
  });
});

describe('snapshot', () => {
  it('reads --timeout-ms as a positive whole number of milliseconds', () => {
    expect(parseTimeoutMs('1')).toBe(1);
    expect(parseTimeoutMs('120000')).toBe(120_000);
    expect(parseTimeoutMs(String(2 ** 31 - 1))).toBe(2 ** 31 - 1);
    for (const bad of ['0', '-5', '1.5', '1e3', 'abc', '', String(2 ** 31)]) {
      const err = (() => {
        try {
          parseTimeoutMs(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err, bad).toBeInstanceOf(KubecacheError);
      expect((err as KubecacheError).code).toBe('BAD_OPTION');
      expect((err as KubecacheError).message).toContain(`--timeout-ms: got ${JSON.stringify(bad)}`);
    }
  });

  it('refuses a bad --timeout-ms as a usage error before touching a cluster', async () => {
    // No kubeconfig is reachable from this env, so reaching for the cluster fails otherwise.
    const env = { KUBECONFIG: '/nonexistent/kubeconfig' };
    for (const value of ['0', '-5', 'soon']) {
      const io = memoryIO(env);
      const argv = ['--json', 'snapshot', 'kc-redis-pod', 'x.rdb', '--timeout-ms', value];
      expect(await runCli(argv, io), value).toBe(EXIT.USAGE);
      const out = JSON.parse(io.stdout.join('\n')) as {
        error: { code: string; message: string; details: { field: string } };
      };
      expect(out.error.code).toBe('BAD_OPTION');
      expect(out.error.details.field).toBe('--timeout-ms');
      expect(out.error.message).toContain(
        `Invalid flag --timeout-ms: got ${JSON.stringify(value)}`,
      );
    }
    const human = memoryIO(env);
    expect(await runCli(['snapshot', 'p', 'x.rdb', '--timeout-ms', '0'], human)).toBe(EXIT.USAGE);
    expect(human.stderr.join('\n')).toMatch(/^kubecache: \[BAD_OPTION\] Invalid flag --timeout-ms/);
    // A good value gets past the flags, as far as the missing kubeconfig.
    const good = memoryIO(env);
    await runCli(['--json', 'snapshot', 'p', 'x.rdb', '--timeout-ms', '120000'], good);
    expect(JSON.parse(good.stdout.join('\n')).error.code).toBe('NO_CLUSTER');
  });

  it('lists --timeout-ms and its default in the help', async () => {
    const io = memoryIO();
    expect(await runCli(['snapshot', '--help'], io)).toBe(EXIT.OK);
    expect(io.stdout.join('\n')).toMatch(
      /--timeout-ms <n>\s+limit for the whole transfer.*\(default\s+60000\)/s,
    );
  });

  it('reads how a pod is locked from its container args', () => {
    const pod = (args: string[]) => ({
      spec: { containers: [{ name: 'redis', command: ['redis-server'], args }] },
    });
    expect(podLocks(pod(['--port', '6379']))).toEqual({ auth: false, tls: false });
    expect(podLocks(pod(['--aclfile', '/etc/kubecache/users.acl']))).toEqual({
      auth: true,
      tls: false,
    });
    expect(podLocks(pod(['--port', '0', '--tls-port', '6379']))).toEqual({
      auth: false,
      tls: true,
    });
  });
});
