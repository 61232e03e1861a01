/**
 * When a port-forward tunnel counts as dead. A tunnel is a WebSocket to the
 * API server: if the API server is killed its sockets close and the tunnel
 * notices at once, but a stalled API server (stopped, or a dead network path)
 * keeps the socket open and silent forever. So each tunnel is pinged, and one
 * that has shown no sign of life (a pong or any data) for `deadAfterMs` is
 * dropped: its local client sees a closed connection and reconnects, which
 * opens a fresh tunnel (client-go's WebSocket executor does the same with its
 * heartbeat).
 */
export interface LivenessTimes {
  /** How often an open tunnel is pinged. */
  pingIntervalMs: number;
  /** A tunnel silent for this long is dead. */
  deadAfterMs: number;
}

export const DEFAULT_LIVENESS: LivenessTimes = { pingIntervalMs: 2000, deadAfterMs: 8000 };

export class TunnelLiveness {
  private lastSign: number;

  constructor(
    private readonly times: LivenessTimes,
    now: number,
  ) {
    this.lastSign = now;
  }

  /** A pong, or data from the pod: the path through the API server works. */
  alive(now: number): void {
    this.lastSign = now;
  }

  /** Called on every ping tick: true when the tunnel must be dropped. */
  dead(now: number): boolean {
    return now - this.lastSign > this.times.deadAfterMs;
  }
}

/**
 * How long a new local connection may wait for its tunnel while the API
 * server does not answer. The wait is measured from when tunnels started
 * failing, not from each connection, so a client that keeps reconnecting
 * during a long outage gets a bounded total wait, then fast failures, instead
 * of a fresh budget per attempt.
 */
export class HealingWindow {
  private failingSince: number | undefined;
  lastError: Error | undefined;

  constructor(private readonly healMs: number) {}

  opened(): void {
    this.failingSince = undefined;
    this.lastError = undefined;
  }

  failed(now: number, err: Error): void {
    this.failingSince ??= now;
    this.lastError = err;
  }

  /** When a connection that arrives at `now` must stop waiting. */
  deadline(now: number): number {
    return (this.failingSince ?? now) + this.healMs;
  }

  /** Milliseconds the forward has been failing, or 0 while healthy. */
  failingFor(now: number): number {
    return this.failingSince === undefined ? 0 : now - this.failingSince;
  }
}

/**
 * Delay before the next tunnel attempt (`attempt` counts from 0): 100 ms
 * doubling to 1 s.
 */
export function retryDelay(attempt: number): number {
  return Math.min(100 * 2 ** attempt, 1000);
}
