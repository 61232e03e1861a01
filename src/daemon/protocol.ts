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

export interface BeginReply {
  runId: string;
  namespace: string;
  /** Progress lines so far, for the runner to print. */
  lines: string[];
}

/** POST /v1/runs/end */
export interface EndReply {
  lines: string[];
  /** The run's acquire requests: the runner writes the next run's record from them. */
  requests: AcquireRequest[];
}
