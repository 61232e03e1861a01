import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { outageCommand, supervise } from '../../src/engines/supervisor.js';

// The supervisor and its control commands run here exactly as in the cache
// container (sh -c ...), around a real local redis-server.

const HOST = '127.0.0.1';
let dir: string;
let port: number;
let supervisor: ChildProcess;
let exited: Promise<[number | null, NodeJS.Signals | null]>;

function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0] as string, argv.slice(1), { timeout: 20_000 }, (err, _out, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

/** One PING over a raw socket: 'PONG', 'refused', or 'silent' when nothing answers in time. */
function ping(timeoutMs = 300): Promise<'PONG' | 'refused' | 'silent' | 'closed'> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const done = (v: 'PONG' | 'refused' | 'silent' | 'closed') => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done('silent'), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(d.toString().startsWith('+PONG') ? 'PONG' : 'closed'));
    socket.once('error', () => done('refused'));
    socket.once('close', () => done('closed'));
  });
}

async function until(what: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await what()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not reached');
}

async function serverPid(): Promise<number> {
  return Number((await readFile(join(dir, 'kubecache-server.pid'), 'utf8')).trim());
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kc-supervisor-'));
  port = await getPort({ host: HOST });
  const argv = supervise(
    ['/usr/bin/redis-server', '--port', String(port), '--bind', HOST, '--save', '', '--dir', dir],
    dir,
  );
  supervisor = spawn(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
  exited = once(supervisor, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await until(async () => (await ping()) === 'PONG');
});

afterEach(async () => {
  if (supervisor.exitCode === null && supervisor.signalCode === null) {
    supervisor.kill('SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

describe('cache server supervisor', () => {
  it('stop leaves nothing listening until start brings a new server process', async () => {
    const before = await serverPid();
    expect(await run(outageCommand('stop', 0, dir))).toEqual({ code: 0, stderr: '' });
    expect(await ping()).toBe('refused');
    expect(supervisor.exitCode).toBeNull();

    expect((await run(outageCommand('start', 0, dir))).code).toBe(0);
    await until(async () => (await ping()) === 'PONG');
    expect(await serverPid()).not.toBe(before);
  });

  it('restart replaces the server process in one command', async () => {
    const before = await serverPid();
    expect((await run(outageCommand('restart', 0, dir))).code).toBe(0);
    await until(async () => (await ping()) === 'PONG');
    expect(await serverPid()).not.toBe(before);
    expect(supervisor.exitCode).toBeNull();
  });

  it('pause keeps the port open but silent, and the server answers again afterwards', async () => {
    const before = await serverPid();
    expect((await run(outageCommand('pause', 1500, dir))).code).toBe(0);
    // The kernel still accepts the connection; the frozen server never replies.
    expect(await ping(300)).toBe('silent');
    await until(async () => (await ping(300)) === 'PONG');
    // The same server process, resumed: not a restart (which would also answer).
    expect(await serverPid()).toBe(before);
    expect(supervisor.exitCode).toBeNull();
  });

  it('start on a running server changes nothing', async () => {
    const before = await serverPid();
    expect((await run(outageCommand('start', 0, dir))).code).toBe(0);
    expect(await serverPid()).toBe(before);
    expect(await ping()).toBe('PONG');
  });

  it('a server that dies on its own ends the supervisor with its status (the pod fails as before)', async () => {
    process.kill(await serverPid(), 'SIGKILL');
    const [code] = await exited;
    expect(code).toBe(128 + 9);
  });

  it('SIGTERM (pod deletion) stops the server, even a paused one, and exits 0', async () => {
    const pid = await serverPid();
    expect((await run(outageCommand('pause', 60_000, dir))).code).toBe(0);
    supervisor.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('refuses a pause without a sensible duration', () => {
    expect(() => outageCommand('pause', 0)).toThrow(/between 1 and/);
    expect(() => outageCommand('pause', Number.NaN)).toThrow(/between 1 and/);
  });
});
