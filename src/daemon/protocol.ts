import type { AcquireRequest } from '../broker/types.js';

// The daemon's run routes (daemon-process.ts), besides the worker API it
// shares with an in-process broker.

/** POST /v1/runs: a runner starts a run on the daemon. */
export interface BeginRequest {
  /** The runner's process: a run whose runner is gone is ended by the daemon. */
  pid: number;
  /** Test workers the runner starts: the prestart is planned for them. */
  workers?: number;
  /** The project's record of its previous run (prestart.ts). */
  previous?: unknown;
}

/**
 * A run's progress lines from index `from` on. The daemon keeps every line of
 * the run; the runner asks from the count it has printed, and prints only
 * what it has not (lines.ts), so a reply lost or answered twice costs no line
 * and repeats none.
 */
export interface Lines {
  from: number;
  lines: string[];
}

export interface BeginReply extends Lines {
  runId: string;
  namespace: string;
}

/** The body of POST /v1/runs/end, /v1/runs/rerun and /v1/runs/lines. */
export interface RunRequest {
  pid: number;
  /** Lines the runner has printed. */
  from: number;
}

/** POST /v1/runs/end */
export interface EndReply extends Lines {
  /** The run's acquire requests: the runner writes the next run's record from them. */
  requests: AcquireRequest[];
}

/**
 * POST /v1/runs/lines, a long poll: answers once the run has a line past
 * `from`, has ended, or LINES_WAIT_MS have passed.
 */
export interface LinesReply extends Lines {
  /** The run is over (or is another's): stop asking. */
  ended: boolean;
}

export const LINES_WAIT_MS = 20_000;
