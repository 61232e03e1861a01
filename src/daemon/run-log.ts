import type { Lines } from './protocol.js';

/**
 * A daemon run's progress lines, kept until its runner has printed them.
 * The runner asks from the count it has printed (RunLines.seen), so a
 * request from `n` says lines before `n` are printed and may go: a long
 * watch-mode run holds the lines in flight, not every line since it began.
 * Only that run's runner asks (the daemon checks its pid), and its count
 * never goes back, so a dropped line is never asked for again.
 */
export class RunLog {
  /** The index of lines[0] in the run. */
  private base = 0;
  private lines: string[] = [];

  push(line: string): void {
    this.lines.push(line);
  }

  /** Lines the run has said so far, dropped ones included. */
  get length(): number {
    return this.base + this.lines.length;
  }

  /** The lines from index `from` on, after dropping those before it. */
  from(from: number): Lines {
    const printed = Math.min(Math.max(from, this.base), this.length);
    this.lines.splice(0, printed - this.base);
    this.base = printed;
    return { from: this.base, lines: [...this.lines] };
  }
}
