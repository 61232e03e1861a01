import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { PortForward } from '@kubernetes/client-node';
import createDebug from 'debug';
import getPort from 'get-port';
import { KubecacheError } from '../errors.js';
import type { KubeHandle } from './client.js';
import { wsError } from './ws-error.js';

const debug = createDebug('kubecache:port-forward');

export interface PortForwardEndpoint {
  host: string;
  port: number;
  /** Live TCP connections through the tunnel, for leak checks. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A local TCP server on a get-port port that opens one port-forward WebSocket
 * per accepted connection (client-node's PortForward supports one port per
 * socket). Closing is wired both ways: when the pod side goes away the local
 * socket ends, and when the local client hangs up the WebSocket is closed, so
 * no socket is left half-open and a new connection after a dropped one gets a
 * fresh tunnel.
 */
export async function startPortForward(
  handle: KubeHandle,
  pod: string,
  targetPort: number,
): Promise<PortForwardEndpoint> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', (err) => debug('%s local socket error: %s', pod, err.message));
    tunnel(handle, pod, targetPort, socket);
  });
  const port = await getPort({ host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  debug('%s:%d forwarded from 127.0.0.1:%d', pod, targetPort, port);
  return {
    host: '127.0.0.1',
    port,
    connections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function tunnel(handle: KubeHandle, pod: string, targetPort: number, socket: Socket): void {
  // The error channel carries the kubelet's message when the pod port refuses
  // the connection; the local client must see a reset, not silence.
  const errors = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8').trim();
      if (text) {
        debug('%s:%d forward error: %s', pod, targetPort, text);
        socket.destroy(
          new KubecacheError('UNREACHABLE', `port-forward to ${pod}:${targetPort}: ${text}`),
        );
      }
      cb();
    },
  });
  new PortForward(handle.kc, true)
    .portForward(handle.namespace, pod, [targetPort], socket, errors, socket)
    .then((result) => {
      const ws = typeof result === 'function' ? result() : result;
      if (!ws) {
        socket.destroy();
        return;
      }
      if (socket.destroyed) {
        ws.close();
        return;
      }
      ws.on('close', () => socket.end());
      ws.on('error', (err: Error) => {
        debug('%s websocket error: %s', pod, err.message);
        socket.destroy();
      });
      socket.on('close', () => {
        if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
      });
      // pauseOnConnect held the client's first bytes until the tunnel existed.
      socket.resume();
    })
    .catch((err: unknown) => {
      const e = wsError(err, {
        verb: 'create',
        resource: 'pods',
        subresource: 'portforward',
        namespace: handle.namespace,
        name: pod,
      });
      debug('%s tunnel failed: %s', pod, e.message);
      socket.destroy(e);
    });
}
