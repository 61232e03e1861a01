import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import getPort from 'get-port';

const HOST = '127.0.0.1';

export interface LocalServer {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * A throwaway redis-server bound to loopback on a free port. `extraArgs` come
 * last, and redis lets a later flag override an earlier one (e.g. `--dir`).
 */
export async function startRedis(
  extraArgs: string[] | ((port: number) => string[]) = [],
): Promise<LocalServer> {
  return startOnFreePort('/usr/bin/redis-server', (port) => {
    const args = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'];
    const extra = typeof extraArgs === 'function' ? extraArgs(port) : extraArgs;
    return [...args, '--dir', tmpdir(), ...extra];
  });
}

/** A throwaway memcached bound to loopback on a free port, UDP off. */
export async function startMemcached(): Promise<LocalServer> {
  return startOnFreePort('/usr/bin/memcached', (port) => {
    const args = ['-p', String(port), '-U', '0', '-l', HOST, '-m', '16'];
    // memcached refuses to start as root unless told which user to run as.
    if (process.getuid?.() === 0) args.push('-u', 'root');
    return args;
  });
}

/**
 * Test files run in parallel workers, and two of them can be handed the same
 * "free" port: the loser's server exits on bind while the winner answers on
 * that port. So a start only counts when our own child is still alive after
 * the port answered, and a lost race is retried on another port.
 */
async function startOnFreePort(
  bin: string,
  argsFor: (port: number) => string[],
): Promise<LocalServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await getPort({ host: HOST });
    try {
      return await startBinary(bin, argsFor(port), port);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function startBinary(bin: string, args: string[], port: number): Promise<LocalServer> {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, 'exit');
  const deadline = Date.now() + 5000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${bin} did not start on port ${port}: ${stderr || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  // A server that failed to bind exits within milliseconds.
  await new Promise((r) => setTimeout(r, 50));
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${bin} exited after port ${port} answered (another server has it): ${stderr}`);
  }
  return {
    host: HOST,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A TCP server with custom behaviour per connection (silent, hang-up, wrong protocol...). */
export async function startTcpServer(onConnection: (socket: Socket) => void): Promise<LocalServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    host: HOST,
    port: address.port,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on loopback that nothing listens on. */
export async function closedPort(): Promise<number> {
  return getPort({ host: HOST });
}

/** Listens on `port` for `ms` and counts incoming connections (e.g. stray reconnects). */
export async function connectionsWithin(port: number, ms: number): Promise<number> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  server.listen(port, HOST);
  await once(server, 'listening');
  await new Promise((r) => setTimeout(r, ms));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return count;
}
