import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect, type Server } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_API_POLICY } from '../../src/kube/api-call.js';
import type { KubeHandle } from '../../src/kube/client.js';
import { type PortForwardEndpoint, startPortForward } from '../../src/kube/port-forward.js';
import { ServerClock } from '../../src/kube/server-clock.js';

// A cluster address where nothing listens: tunnels fail at once, which is all
// these tests need (the server side is under test, not the tunnel).
function deadClusterHandle(): KubeHandle {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'none', token: 'x' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none', namespace: 'default' }],
    currentContext: 'none',
  });
  return {
    kc,
    core: undefined as never,
    namespace: 'default',
    server: 'https://127.0.0.1:9',
    context: 'none',
    inCluster: false,
    policy: { ...DEFAULT_API_POLICY },
    clock: new ServerClock(),
  };
}

/**
 * Records the net.Servers that start listening, seen through Node's own
 * diagnostics channel (get-port's probe servers included).
 */
function watchListeningServers(): { servers: Server[]; stop(): void } {
  const servers: Server[] = [];
  const onListen = (message: unknown): void => {
    servers.push((message as { server: Server }).server);
  };
  subscribe('tracing:net.server.listen:asyncEnd', onListen);
  return { servers, stop: () => unsubscribe('tracing:net.server.listen:asyncEnd', onListen) };
}

describe('port-forward server', () => {
  let fwd: PortForwardEndpoint | undefined;
  afterEach(async () => {
    await fwd?.close();
    fwd = undefined;
  });

  // Claim 4 (second half): after listen() the server had no 'error' listener,
  // so an accept error (ENFILE, ENOMEM: libuv reports them as 'error' on the
  // listening server) threw out of the event loop and crashed the runner.
  it('keeps an error listener after listen: an accept error does not crash the runner', async () => {
    const seen = watchListeningServers();
    fwd = await startPortForward(deadClusterHandle(), 'no-such-pod', 6379, { healMs: 0 });
    seen.stop();
    const port = fwd.port;
    const s = seen.servers.find(
      (srv) => (srv.address() as { port?: number } | null)?.port === port,
    );
    if (!s) throw new Error('the forward server was not seen listening');
    const acceptError = Object.assign(new Error('accept ENFILE'), {
      code: 'ENFILE',
      syscall: 'accept',
    });
    expect(() => s.emit('error', acceptError)).not.toThrow();
    // Still serving: a new local connection is accepted (and, with no API
    // server, closed by the forward rather than left hanging).
    const closed = await new Promise<boolean>((resolve) => {
      const c = connect({ host: '127.0.0.1', port: (fwd as PortForwardEndpoint).port });
      c.on('error', () => {});
      c.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 5000).unref();
    });
    expect(closed).toBe(true);
  });

  it('fails a connection with a named error once the healing window is spent', async () => {
    fwd = await startPortForward(deadClusterHandle(), 'no-such-pod', 6379, { healMs: 300 });
    const t0 = Date.now();
    await new Promise<void>((resolve) => {
      const c = connect({ host: '127.0.0.1', port: (fwd as PortForwardEndpoint).port });
      c.on('error', () => {});
      c.on('close', () => resolve());
    });
    const waited = Date.now() - t0;
    const health = fwd.health();
    expect(health.healthy).toBe(false);
    expect(health.lastError).toMatch(/ECONNREFUSED/);
    expect(fwd.connections()).toBe(0);
    // Held at least one retry, and released well before a test timeout.
    expect(waited).toBeGreaterThanOrEqual(100);
    expect(waited).toBeLessThan(10_000);
  });
});
