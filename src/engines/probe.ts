import { connect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { KubecacheError } from '../errors.js';

/**
 * Verdict on the bytes received so far: `wait` asks for more, `ok` accepts,
 * `busy` means the server is up but not serving yet, and anything else is
 * treated as the wrong protocol.
 */
export type ReplyVerdict = 'ok' | 'wait' | 'busy' | 'wrong';

export interface TcpProbeSpec {
  engine: string;
  host: string;
  port: number;
  timeoutMs: number;
  request: string;
  /** Human wording of what a healthy reply looks like, for error messages. */
  expected: string;
  judge(reply: string): ReplyVerdict;
  /** Speak TLS (a cache started with `tls: true`): the CA and the name its certificate carries. */
  tls?: ConnectionOptions;
}

/** How a cache started: what its probe must speak. */
export interface ProbeOptions {
  tls?: { ca: string; servername: string };
  /** The server requires authentication (memcached SASL switches to the binary protocol). */
  auth?: boolean;
}

/**
 * One request/reply exchange over raw TCP with a single hard deadline that
 * covers connect and reply. This is deliberately hand-written: the startup
 * loop calls it many times per second, and building an ioredis or memjs
 * client per attempt is slower and prints reconnect noise on every failure.
 */
export function tcpProbe(spec: TcpProbeSpec): Promise<void> {
  const { engine, host, port, request, expected } = spec;
  const timeoutMs = Math.max(1, Math.floor(spec.timeoutMs));
  const where = `${host}:${port}`;
  return new Promise<void>((resolve, reject) => {
    let reply = '';
    let settled = false;
    const socket = spec.tls ? tlsConnect({ ...spec.tls, host, port }) : connect({ host, port });
    const finish = (error?: KubecacheError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => {
      const phase = socket.connecting ? 'connecting' : 'waiting for a reply';
      finish(
        new KubecacheError(
          'TIMEOUT',
          `No ${engine} reply from ${where} within ${timeoutMs}ms (${phase}). ` +
            'The server may still be starting; if this persists, check that the pod is ' +
            'running and that the port-forward or pod IP is reachable from this machine.',
          { engine, host, port, timeoutMs, phase, received: printable(reply) },
        ),
      );
    }, timeoutMs);

    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.once(spec.tls ? 'secureConnect' : 'connect', () => socket.write(request, 'latin1'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      const verdict = spec.judge(reply);
      if (verdict === 'ok') {
        finish();
      } else if (verdict === 'busy') {
        finish(
          new KubecacheError(
            'UNREACHABLE',
            `${engine} at ${where} is up but not serving yet (replied ${quote(reply)}); retry shortly.`,
            { engine, host, port, reason: 'busy', received: printable(reply) },
          ),
        );
      } else if (verdict === 'wrong' || reply.length > 4096) {
        finish(
          new KubecacheError(
            'UNREACHABLE',
            `Something answers on ${where} but not as ${engine}: expected ${expected}, ` +
              `got ${quote(reply)}. Check that the image runs ${engine} on port ${port}.`,
            { engine, host, port, reason: 'wrong-protocol', received: printable(reply) },
          ),
        );
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'UNKNOWN';
      finish(
        new KubecacheError(
          code === 'ETIMEDOUT' ? 'TIMEOUT' : 'UNREACHABLE',
          `Cannot reach ${engine} at ${where}: ${err.message}. ` +
            'The server may still be starting; if this persists, check the pod status and ' +
            'that this machine can reach the address.',
          { engine, host, port, reason: code },
          { cause: err },
        ),
      );
    });
    // Port-forward tunnels accept the local connection and then drop it when
    // nothing listens in the pod yet, so an early close is "not up yet".
    socket.on('close', () => {
      finish(
        new KubecacheError(
          'UNREACHABLE',
          `${engine} at ${where} closed the connection before replying. ` +
            'The server may still be starting; retry shortly.',
          { engine, host, port, reason: 'closed', received: printable(reply) },
        ),
      );
    });
  });
}

function printable(text: string): string {
  return text.slice(0, 120);
}

function quote(text: string): string {
  return JSON.stringify(printable(text).trimEnd());
}
