import { connect } from 'node:net';

// Tests that reach a bare redis pod (by Pod IP or through a port-forward)
// check it with one PING over a plain socket, no client library in between:
// a client's reconnects and queueing would hide whether that one connection
// was served.

/**
 * Sends PING to `host:port` and resolves with the first reply line ("+PONG");
 * rejects on a socket error, or when no line came within `timeoutMs`.
 */
export function pingRedis(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      data += d.toString();
      if (data.includes('\r\n')) {
        clearTimeout(timer);
        s.end();
        resolve(data.trim());
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
