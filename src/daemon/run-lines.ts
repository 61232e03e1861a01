import type { Lines } from './protocol.js';

/**
 * The runner's count of a daemon run's progress lines it has printed. Every
 * reply carries the index of its first line: what was printed already is
 * skipped, so a long poll and an end (or a rerun) that answer the same lines
 * print them once, in order.
 */
export class RunLines {
  private printed = 0;

  constructor(private readonly print: (line: string) => void) {}

  /** Lines printed so far: where the next request asks from. */
  get seen(): number {
    return this.printed;
  }

  /** Prints the lines of `reply` not printed yet. A reply past a gap is held back for a later one. */
  take(reply: Lines): void {
    if (reply.from > this.printed) return;
    for (const line of reply.lines.slice(this.printed - reply.from)) {
      this.print(line);
      this.printed += 1;
    }
  }
}
