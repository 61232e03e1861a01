import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decideReachable,
  PodNetworkReachability,
  tcpConnect,
} from '../../src/kube/reachability.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function listen(
  onConnection: (socket: import('node:net').Socket) => void = () => {},
): Promise<number> {
  const server = createServer(onConnection);
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

/** A port nothing listens on: every connection is refused with a RST. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('pod network reachability (endpoint auto)', () => {
  it('counts a completed connection as reachable', async () => {
    const port = await listen();
    expect(await tcpConnect('127.0.0.1', port, 500)).toBe('connected');
    expect(await decideReachable('127.0.0.1', port, 500, 500)).toBe(true);
  });

  it('does not count a refusal (a RST from anything on the way) as reachable', async () => {
    const port = await closedPort();
    expect(await tcpConnect('127.0.0.1', port, 500)).toBe('refused');
    expect(await decideReachable('127.0.0.1', port, 200, 300)).toBe(false);
    const r = new PodNetworkReachability();
    expect(await r.check('127.0.0.1', port, 200, 300)).toBe(false);
    expect(r.known).toBe(false);
  });

  it('keeps asking while the cache does not listen yet, and says yes once it does', async () => {
    const port = await closedPort();
    const decision = decideReachable('127.0.0.1', port, 200, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    const server = createServer();
    servers.push(server);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    expect(await decision).toBe(true);
  });
});
