import { connect } from 'node:net';
import { pollUntil } from '../deadline.js';

export type TcpOutcome = 'connected' | 'refused' | 'unreachable';

/**
 * Whether this process can reach pod IPs directly (in-cluster runners, or a
 * dev cluster whose pod network is routed to the host). Decided once per run
 * from the first pod, and only by a completed connection to the cache's own
 * port: a refusal (RST) proves nothing, since a firewall, a VPN or a proxy
 * between here and the pod network answers with one too. While the cache is
 * refused it may simply not listen yet, so it is asked again until `budgetMs`
 * ends; a timeout or "unreachable" means a port-forward is needed.
 */
export class PodNetworkReachability {
  private decision: Promise<boolean> | undefined;
  /** The settled answer, once there is one. */
  known: boolean | undefined;

  check(ip: string, port: number, attemptMs: number, budgetMs = attemptMs): Promise<boolean> {
    this.decision ??= decideReachable(ip, port, attemptMs, budgetMs).then((ok) => {
      this.known = ok;
      return ok;
    });
    return this.decision;
  }
}

export async function decideReachable(
  ip: string,
  port: number,
  attemptMs: number,
  budgetMs: number,
): Promise<boolean> {
  // A refusal is "ask again"; a connection or "unreachable" is the answer.
  const verdict = await pollUntil(
    async () => {
      const outcome = await tcpConnect(ip, port, attemptMs);
      return outcome === 'refused' ? undefined : outcome === 'connected';
    },
    { budgetMs, delayMs: (attempt) => Math.min(20 * attempt, 200) },
  );
  return verdict ?? false;
}

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<TcpOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (outcome: TcpOutcome): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('unreachable'), timeoutMs);
    socket.once('connect', () => done('connected'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? 'refused' : 'unreachable'),
    );
  });
}
