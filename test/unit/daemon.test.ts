import { chownSync, mkdtempSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  daemonFiles,
  daemonKey,
  processAlive,
  pruneDaemonLogs,
  readDescriptor,
  removeOwnDescriptor,
  STALE_LOG_MS,
  writeDescriptor,
} from '../../src/daemon/descriptor.js';
import { RunLines } from '../../src/daemon/run-lines.js';
import { RunLog } from '../../src/daemon/run-log.js';
import { importChains, src } from './helpers/module-graph.js';

describe('daemon key', () => {
  const base = { root: '/p', configKey: '{}', build: '/dist/daemon-process.js@1', env: {} };

  it('changes with the project, config, build and the variables that steer a broker', () => {
    const key = daemonKey(base);
    expect(key).toMatch(/^[0-9a-f]{16}$/);
    expect(daemonKey({ ...base })).toBe(key);
    for (const other of [
      { ...base, root: '/q' },
      { ...base, configKey: '{"reuse":true}' },
      { ...base, build: '/dist/daemon-process.js@2' },
      { ...base, env: { KUBECONFIG: '/k' } },
      { ...base, env: { KUBECACHE_NAMESPACE: 'ns' } },
    ]) {
      expect(daemonKey(other)).not.toBe(key);
    }
  });

  it('ignores the broker address a session exports and unrelated variables', () => {
    const key = daemonKey(base);
    expect(
      daemonKey({
        ...base,
        env: { KUBECACHE_BROKER_URL: 'http://127.0.0.1:1', PATH: '/bin', VITEST_POOL_ID: '2' },
      }),
    ).toBe(key);
  });
});

describe('daemon descriptor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-descriptor-'));
  const files = daemonFiles(join(dir, 'last-run-abc.json'), 'k1');

  it('lives next to the prestart record', () => {
    expect(files).toEqual({
      descriptor: join(dir, 'daemon-k1.json'),
      log: join(dir, 'daemon-k1.log'),
    });
  });

  it('is written private to the user and read back; only its own daemon removes it', () => {
    const d = { version: 1 as const, pid: 4242, url: 'http://127.0.0.1:5', token: 't' };
    writeDescriptor(files.descriptor, d);
    expect(statSync(files.descriptor).mode & 0o777).toBe(0o600);
    expect(readDescriptor(files.descriptor)).toEqual(d);
    removeOwnDescriptor(files.descriptor, 4243);
    expect(readDescriptor(files.descriptor)).toEqual(d);
    removeOwnDescriptor(files.descriptor, 4242);
    expect(readDescriptor(files.descriptor)).toBeUndefined();
  });

  it('counts a malformed file or a non-loopback address as no daemon', () => {
    // The control: a well-formed file written the same way is a daemon, so
    // each undefined below is the content's doing, not the file's.
    writeFileSync(files.descriptor, '{"version":1,"pid":1,"url":"http://127.0.0.1:5","token":"t"}');
    expect(readDescriptor(files.descriptor)?.pid).toBe(1);
    for (const text of [
      'not json',
      '{"version":2,"pid":1,"url":"http://127.0.0.1:5","token":"t"}',
      '{"version":1,"pid":"1","url":"http://127.0.0.1:5","token":"t"}',
      '{"version":1,"pid":1,"url":"http://10.0.0.1:5","token":"t"}',
      '{"version":1,"pid":1,"url":"http://127.0.0.1:5"}',
    ]) {
      writeFileSync(files.descriptor, text);
      expect(readDescriptor(files.descriptor), text).toBeUndefined();
    }
  });

  it("counts another user's file as no daemon", () => {
    const d = { version: 1 as const, pid: 4242, url: 'http://127.0.0.1:5', token: 't' };
    writeDescriptor(files.descriptor, d);
    expect(readDescriptor(files.descriptor)).toEqual(d);
    // The tests run as root, which may give a file away.
    chownSync(files.descriptor, 54321, 54321);
    expect(readDescriptor(files.descriptor)).toBeUndefined();
  });

  it('tells a live process from a gone one', () => {
    expect(processAlive(process.pid)).toBe(true);
    // Above the kernel's pid_max: no such process.
    expect(processAlive(2 ** 22 + 1)).toBe(false);
  });
});

describe('a run on a daemon never loads the Kubernetes client', () => {
  // Global setup reaches the broker (and with it client-node) only through
  // import() in src/runner/session.ts, taken when there is no daemon.
  const heavy = {
    paths: [join(src, 'kube'), join(src, 'broker', 'broker.ts')],
    packages: ['@kubernetes/client-node'],
    runtime: true,
  };

  it('global setup and the daemon client load no kube code when they load', () => {
    const entries = ['vitest/global-setup.ts', 'jest/global-setup.ts', 'daemon/join-daemon.ts'];
    expect(entries.flatMap((e) => importChains(join(src, e), heavy))).toEqual([]);
  });

  it('the check sees a static path to the broker (the daemon itself has one)', () => {
    expect(importChains(join(src, 'daemon', 'daemon-process.ts'), heavy)).toContain(
      'src/daemon/daemon-process.ts -> src/broker/broker.ts',
    );
  });
});

describe("a daemon run's progress lines on the runner", () => {
  function printer() {
    const out: string[] = [];
    return { out, lines: new RunLines((l) => out.push(l)) };
  }

  it('prints each line once, in order, whichever reply brings it', () => {
    const { out, lines } = printer();
    lines.take({ from: 0, lines: ['a'] });
    // A long poll and the end both answered from index 0.
    lines.take({ from: 0, lines: ['a', 'b'] });
    lines.take({ from: 1, lines: ['b', 'c'] });
    lines.take({ from: 3, lines: [] });
    expect(out).toEqual(['a', 'b', 'c']);
    expect(lines.seen).toBe(3);
  });

  it('holds back a reply that starts past a line it has not printed', () => {
    const { out, lines } = printer();
    lines.take({ from: 0, lines: ['a'] });
    lines.take({ from: 2, lines: ['c'] });
    expect(out).toEqual(['a']);
    lines.take({ from: 1, lines: ['b', 'c'] });
    expect(out).toEqual(['a', 'b', 'c']);
  });

  it('the daemon keeps only the lines its runner has not printed, and none is lost on the way', () => {
    const log = new RunLog();
    const { out, lines } = printer();
    for (const l of ['a', 'b', 'c']) log.push(l);
    expect(log.from(lines.seen)).toEqual({ from: 0, lines: ['a', 'b', 'c'] });
    // That reply was lost: the runner asks again from what it printed.
    lines.take(log.from(lines.seen));
    expect(out).toEqual(['a', 'b', 'c']);
    log.push('d');
    // Asking from 3 drops a, b and c; the next reply starts at index 3.
    const reply = log.from(lines.seen);
    expect(reply).toEqual({ from: 3, lines: ['d'] });
    expect(log.length).toBe(4);
    // A poll and the end answering the same line print it once.
    lines.take(reply);
    lines.take(log.from(3));
    expect(out).toEqual(['a', 'b', 'c', 'd']);
    expect(log.from(lines.seen)).toEqual({ from: 4, lines: [] });
    // An ask from past the end, or from before what was dropped, stays in range.
    expect(log.from(9)).toEqual({ from: 4, lines: [] });
    expect(log.from(0)).toEqual({ from: 4, lines: [] });
  });
});

describe('daemon logs', () => {
  it('prunes only the stale logs of daemons that are gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kc-logs-'));
    const old = (Date.now() - STALE_LOG_MS - 60_000) / 1000;
    for (const name of ['daemon-aa.log', 'daemon-bb.log', 'daemon-cc.log', 'other.log']) {
      writeFileSync(join(dir, name), 'x');
      utimesSync(join(dir, name), old, old);
    }
    // bb's daemon is up (its descriptor is there); dd's log is recent.
    writeFileSync(join(dir, 'daemon-bb.json'), '{}');
    writeFileSync(join(dir, 'daemon-dd.log'), 'x');
    const pruned = pruneDaemonLogs(dir).map((f) => f.slice(dir.length + 1));
    expect(pruned.sort()).toEqual(['daemon-aa.log', 'daemon-cc.log']);
    expect(readdirSync(dir).sort()).toEqual([
      'daemon-bb.json',
      'daemon-bb.log',
      'daemon-dd.log',
      'other.log',
    ]);
    expect(pruneDaemonLogs(join(dir, 'missing'))).toEqual([]);
  });
});
