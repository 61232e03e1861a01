import { createServer, type Server, type Socket } from 'node:net';
import createDebug from 'debug';
import getPort from 'get-port';
import WebSocket from 'ws';
import { sleep } from '../deadline.js';
import { KubecacheError } from '../errors.js';
import { toKubecacheError } from './api-error.js';
import type { KubeHandle } from './client.js';
import {
  DEFAULT_LIVENESS,
  HealingWindow,
  type LivenessTimes,
  retryDelay,
  TunnelLiveness,
} from './tunnel-liveness.js';

const debug = createDebug('kubecache:port-forward');

/** The API server's port-forward subprotocol: channel byte, then data. */
const PROTOCOLS = ['v4.channel.k8s.io', 'channel.k8s.io'];
const DATA_CHANNEL = 0;
const ERROR_CHANNEL = 1;

export interface PortForwardOptions extends LivenessTimes {
  /** How long an attempt to open a tunnel may take (TLS and WebSocket upgrade). */
  handshakeMs: number;
  /**
   * How long new local connections keep retrying to open a tunnel while the
   * API server does not answer, counted from the first failure.
   */
  healMs: number;
}

export const DEFAULT_PORT_FORWARD: PortForwardOptions = {
  ...DEFAULT_LIVENESS,
  handshakeMs: 10_000,
  healMs: 30_000,
};

export interface PortForwardHealth {
  /** False while tunnels cannot be opened. */
  healthy: boolean;
  /** Milliseconds tunnels have been failing. */
  failingForMs: number;
  lastError?: string;
  /** Tunnels dropped because they stopped answering pings. */
  deadTunnels: number;
  /** Tunnels opened over the endpoint's life. */
  tunnelsOpened: number;
}

export interface PortForwardEndpoint {
  host: string;
  port: number;
  /** Live TCP connections through the tunnel, for leak checks. */
  connections(): number;
  health(): PortForwardHealth;
  close(): Promise<void>;
}

/**
 * A local TCP server on a get-port port that opens one port-forward WebSocket
 * per accepted connection. It heals: a tunnel that stops answering pings is
 * dropped (its client reconnects), and a new connection that arrives while the
 * API server is down is held and retried until a tunnel opens or the healing
 * window (`healMs`) runs out, so a reconnecting client (ioredis, memjs) gets
 * a working connection once the API server answers, and never waits without
 * bound. Closing is wired both ways: when the pod side goes away the local
 * socket ends, and when the local client hangs up the WebSocket is closed.
 */
export async function startPortForward(
  handle: KubeHandle,
  pod: string,
  targetPort: number,
  options: Partial<PortForwardOptions> = {},
): Promise<PortForwardEndpoint> {
  const opts = { ...DEFAULT_PORT_FORWARD, ...options };
  const state: ForwardState = {
    handle,
    pod,
    targetPort,
    opts,
    window: new HealingWindow(opts.healMs),
    sockets: new Set(),
    tunnels: new Set(),
    closed: false,
    deadTunnels: 0,
    tunnelsOpened: 0,
    spare: undefined,
  };
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    state.sockets.add(socket);
    socket.on('close', () => state.sockets.delete(socket));
    socket.on('error', (err) => debug('%s local socket error: %s', pod, err.message));
    void serve(state, socket);
  });
  // Accept errors (EMFILE when the runner is out of file descriptors) come
  // as 'error' on the server, long after listen: without a listener for its
  // whole life they would crash the runner.
  server.on('error', (err) => debug('%s port-forward server error: %s', pod, err.message));
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
    connections: () => state.sockets.size,
    health: () => {
      const now = Date.now();
      const failingForMs = state.window.failingFor(now);
      return {
        healthy: failingForMs === 0,
        failingForMs,
        ...(state.window.lastError ? { lastError: state.window.lastError.message } : {}),
        deadTunnels: state.deadTunnels,
        tunnelsOpened: state.tunnelsOpened,
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        state.closed = true;
        dropSpare(state);
        for (const ws of state.tunnels) ws.terminate();
        for (const s of state.sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface ForwardState {
  handle: KubeHandle;
  pod: string;
  targetPort: number;
  opts: PortForwardOptions;
  window: HealingWindow;
  sockets: Set<Socket>;
  tunnels: Set<WebSocket>;
  closed: boolean;
  deadTunnels: number;
  tunnelsOpened: number;
  spare: Spare | undefined;
}

/**
 * A tunnel whose client hung up before it opened (a readiness probe attempt
 * that timed out, typically: on a loaded machine a TLS handshake and upgrade
 * take longer than one probe attempt). It is kept for a few seconds and given
 * to the next connection, which then starts at once; otherwise every short
 * attempt would give up before its own tunnel opened, forever.
 */
interface Spare {
  ws: WebSocket;
  /** Frames that arrived while no client was attached (the port headers). */
  frames: { data: Buffer; isBinary: boolean }[];
  timer: NodeJS.Timeout;
}

const SPARE_MS = 5000;

/** Opens a tunnel for one local connection, retrying within the healing window. */
async function serve(state: ForwardState, socket: Socket): Promise<void> {
  // While its tunnel opens the client's bytes are read and kept, so that a
  // client that hangs up is noticed (its socket closes) and its tunnel kept
  // as the spare; past HELD_BYTES the socket is paused instead.
  const held = holdBytes(socket);
  const spare = takeSpare(state);
  if (spare) {
    wire(state, socket, spare.ws, held, spare.frames);
    return;
  }
  const deadline = state.window.deadline(Date.now());
  for (let attempt = 0; attempt < 1000; attempt++) {
    if (socket.destroyed || state.closed) return;
    let ws: WebSocket;
    try {
      ws = await openTunnel(state);
    } catch (err) {
      const e = err as TunnelError;
      if (!e.transient) {
        debug('%s tunnel refused: %s', state.pod, e.error.message);
        reset(socket);
        return;
      }
      state.window.failed(Date.now(), e.error);
      const wait = retryDelay(attempt);
      if (Date.now() + wait > deadline) {
        const waited = state.window.failingFor(Date.now());
        debug('%s tunnel failed for %d ms, giving up: %s', state.pod, waited, e.message);
        const error = new KubecacheError(
          'UNREACHABLE',
          `port-forward to pod ${state.pod}:${state.targetPort}: no tunnel could be opened for ${waited} ms (${e.message}). The Kubernetes API server ${state.handle.server} does not answer; the next connection tries again.`,
          { pod: state.pod, port: state.targetPort, server: state.handle.server },
          { cause: e.error },
        );
        state.window.failed(Date.now(), error);
        reset(socket);
        return;
      }
      await sleep(wait, { unref: true });
      continue;
    }
    state.window.opened();
    state.tunnelsOpened += 1;
    if (state.closed) {
      ws.terminate();
      return;
    }
    if (socket.destroyed) {
      keepSpare(state, ws);
      return;
    }
    wire(state, socket, ws, held);
    return;
  }
  reset(socket);
}

interface TunnelError {
  message: string;
  error: KubecacheError;
  /** Worth retrying: the API server did not answer, or answered 429/5xx. */
  transient: boolean;
}

async function openTunnel(state: ForwardState): Promise<WebSocket> {
  const { handle, pod, targetPort, opts } = state;
  const cluster = handle.kc.getCurrentCluster();
  if (!cluster) throw new KubecacheError('BAD_OPTION', 'kubeconfig: no current cluster.');
  const base = cluster.server.replace(/^http/, 'ws').replace(/\/$/, '');
  const url = `${base}/api/v1/namespaces/${encodeURIComponent(handle.namespace)}/pods/${encodeURIComponent(pod)}/portforward?ports=${targetPort}`;
  const tls: Record<string, unknown> = {};
  await handle.kc.applyToHTTPSOptions(tls);
  const call = {
    verb: 'create',
    resource: 'pods',
    subresource: 'portforward',
    namespace: handle.namespace,
    name: pod,
  };
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, PROTOCOLS, { ...tls, handshakeTimeout: opts.handshakeMs });
    const fail = (e: TunnelError): void => {
      ws.removeAllListeners('open');
      // Keep an error listener: ws may still report the aborted handshake.
      ws.on('error', () => {});
      ws.terminate();
      reject(e);
    };
    ws.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 2000) body += c;
      });
      res.on('error', () => {});
      res.on('end', () => {
        const error = toKubecacheError(
          Object.assign(new Error(body || `HTTP ${status}`), { code: status, body }),
          call,
        );
        fail({ message: `HTTP ${status}`, error, transient: status === 429 || status >= 500 });
      });
    });
    ws.once('error', (err) => {
      const error = toKubecacheError(err, call);
      fail({ message: err.message, error, transient: true });
    });
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.removeAllListeners('unexpected-response');
      resolve(ws);
    });
  });
}

const HELD_BYTES = 1 << 20;

interface HeldBytes {
  /** Stops holding; returns what was read so far, in order. */
  release(): Buffer[];
}

function holdBytes(socket: Socket): HeldBytes {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > HELD_BYTES) socket.pause();
  };
  socket.on('data', onData);
  socket.resume();
  return {
    release: () => {
      socket.off('data', onData);
      socket.pause();
      return chunks;
    },
  };
}

function keepSpare(state: ForwardState, ws: WebSocket): void {
  if (state.spare) {
    ws.terminate();
    return;
  }
  const frames: Spare['frames'] = [];
  const spare: Spare = {
    ws,
    frames,
    timer: setTimeout(() => dropSpare(state), SPARE_MS),
  };
  spare.timer.unref();
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    debug('%s spare frame %o', state.pod, data);
    frames.push({ data, isBinary });
    // An error frame (the pod port refused) makes the tunnel useless.
    if (isBinary && data[0] === ERROR_CHANNEL && data.length > 3) dropSpare(state);
  });
  ws.on('error', () => {});
  ws.once('close', (code: number) => {
    debug('%s spare closed %d', state.pod, code);
    if (state.spare === spare) {
      clearTimeout(spare.timer);
      state.spare = undefined;
    }
  });
  state.spare = spare;
}

function takeSpare(state: ForwardState): Spare | undefined {
  const spare = state.spare;
  if (!spare) return undefined;
  state.spare = undefined;
  clearTimeout(spare.timer);
  spare.ws.removeAllListeners('message');
  spare.ws.removeAllListeners('close');
  spare.ws.removeAllListeners('error');
  if (spare.ws.readyState !== WebSocket.OPEN) {
    spare.ws.terminate();
    return undefined;
  }
  return spare;
}

function dropSpare(state: ForwardState): void {
  const spare = takeSpare(state);
  spare?.ws.terminate();
}

/** Joins a local socket and an open tunnel, with a heartbeat on the tunnel. */
function wire(
  state: ForwardState,
  socket: Socket,
  ws: WebSocket,
  held: HeldBytes,
  earlier: { data: Buffer; isBinary: boolean }[] = [],
): void {
  const { pod, targetPort } = state;
  state.tunnels.add(ws);
  const liveness = new TunnelLiveness(state.opts, Date.now());
  // The first frame on each channel is the port number (2 bytes), not data.
  const portHeader = new Set([DATA_CHANNEL, ERROR_CHANNEL]);
  const heartbeat = setInterval(() => {
    if (liveness.dead(Date.now())) {
      state.deadTunnels += 1;
      debug('%s:%d tunnel silent for %d ms: dropped', pod, targetPort, state.opts.deadAfterMs);
      ws.terminate();
      reset(socket);
      return;
    }
    if (ws.readyState === WebSocket.OPEN) ws.ping();
  }, state.opts.pingIntervalMs);
  heartbeat.unref();

  ws.on('pong', () => liveness.alive(Date.now()));
  const onMessage = (data: Buffer, isBinary: boolean): void => {
    liveness.alive(Date.now());
    if (!isBinary || data.length === 0) return;
    const channel = data[0] as number;
    let payload = data.subarray(1);
    // The port header is 2 bytes, little-endian. Some paths send it in its own
    // frame, others not at all before an error text: strip only what it is.
    if (portHeader.delete(channel) && payload.length >= 2 && payload.readUInt16LE(0) === targetPort)
      payload = payload.subarray(2);
    if (payload.length === 0) return;
    if (channel === DATA_CHANNEL) {
      socket.write(payload);
    } else if (channel === ERROR_CHANNEL) {
      // The kubelet's message when the pod port refuses the connection: the
      // local client must see a reset, not silence.
      const text = payload.toString('utf8').trim();
      debug('%s:%d forward error: %s', pod, targetPort, text);
      reset(socket);
    }
  };
  for (const f of earlier) onMessage(f.data, f.isBinary);
  ws.on('message', onMessage);
  ws.on('error', (err) => debug('%s websocket error: %s', pod, err.message));
  ws.on('close', (code: number) => {
    clearInterval(heartbeat);
    state.tunnels.delete(ws);
    // 1000: the pod side closed the connection, pass the FIN on. Anything
    // else (1006: the API server vanished) is a broken connection.
    if (code === 1000) {
      if (!socket.destroyed) socket.end();
    } else {
      reset(socket);
    }
  });
  for (const chunk of held.release()) ws.send(Buffer.concat([Buffer.from([DATA_CHANNEL]), chunk]));
  socket.on('data', (chunk: Buffer) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(Buffer.concat([Buffer.from([DATA_CHANNEL]), chunk]));
  });
  socket.on('close', () => {
    clearInterval(heartbeat);
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
  });
  socket.resume();
}

/**
 * Fails a local connection with a TCP reset rather than a FIN: a client
 * with a request in flight must see an error, not a clean end. memjs, for
 * one, never fails its pending requests on a clean close and would wait
 * forever.
 */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
