import { connect } from 'node:net';

/**
 * Sends `INFO server` over raw RESP and resolves with the reply's text, or
 * undefined when the server does not answer in time or refuses (a password
 * set through args). Raw TCP like the start-up probe: one exchange does not
 * justify a client, and the broker must not depend on the worker's clients.
 */
export function queryServerInfo(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let reply = '';
    let settled = false;
    const socket = connect({ host, port });
    const finish = (value: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), Math.max(1, timeoutMs));
    socket.setEncoding('latin1');
    socket.once('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.startsWith('-')) return finish(undefined);
      const header = /^\$(\d+)\r\n/.exec(reply);
      if (!header?.[1]) {
        if (reply.length > 32 || (reply.length > 0 && reply[0] !== '$')) finish(undefined);
        return;
      }
      const length = Number(header[1]);
      const body = reply.slice(header[0].length);
      if (Buffer.byteLength(body, 'latin1') >= length) finish(body.slice(0, length));
    });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
  });
}
