/**
 * The API server's clock as seen from this process, learned from the Date
 * header of every API answer. Leases are written and judged in server time,
 * so two runners whose clocks disagree (a CI VM minutes off, a laptop after
 * sleep) still agree on when a lease has run out.
 */
export class ServerClock {
  private offsetMs: number | undefined;

  /**
   * Records one answer: `date` is its Date header (whole seconds), `sentAt`
   * and `receivedAt` the local times around the request. The server stamped
   * the answer somewhere in between; the middle is the best guess, and the
   * half second the header truncates is added back.
   */
  observe(date: string | undefined, sentAt: number, receivedAt: number): void {
    if (!date) return;
    const server = Date.parse(date);
    if (Number.isNaN(server)) return;
    const offset = server + 500 - (sentAt + receivedAt) / 2;
    // Smooth a little: one slow answer should not swing the estimate.
    this.offsetMs =
      this.offsetMs === undefined ? offset : Math.round(this.offsetMs * 0.7 + offset * 0.3);
  }

  /** Whether any answer has been seen; until then server time is local time. */
  get known(): boolean {
    return this.offsetMs !== undefined;
  }

  /** Server time minus local time, in ms (0 until known). */
  get skewMs(): number {
    return this.offsetMs ?? 0;
  }

  /** The server's current time, estimated. */
  now(local: number = Date.now()): number {
    return local + this.skewMs;
  }
}
