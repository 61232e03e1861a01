import { connect } from 'node:net';

/**
 * Whether this process can reach pod IPs directly (in-cluster runners, or a
 * dev cluster whose pod network is routed to the host). Decided once per run
 * from the first pod: a refused connection still proves the route exists,
 * while a timeout or "unreachable" means a port-forward is needed.
 */
export class PodNetworkReachability {
  private decision: Promise<boolean> | undefined;
  /** The settled answer, once there is one. */
  known: boolean | undefined;

  check(ip: string, port: number, timeoutMs: number): Promise<boolean> {
    this.decision ??= tcpReachable(ip, port, timeoutMs).then((ok) => {
      this.known = ok;
      return ok;
    });
    return this.decision;
  }
}

export function tcpReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}
