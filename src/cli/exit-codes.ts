import { type ErrorCode, isKubecacheError } from '../errors.js';

/**
 * The `kubecache` command's exit codes, stable for scripts (docs/cli.md).
 * 1 is reserved for "the command ran and found problems", so a script can
 * tell a failing check from a CLI that could not run at all.
 */
export const EXIT = Object.freeze({
  OK: 0,
  /** doctor found a failing check, check found a bad fixture. */
  PROBLEMS: 1,
  /** Unknown command or flag, missing or invalid argument or option. */
  USAGE: 2,
  /** The cluster could not be reached, or refused the credentials or a permission. */
  CLUSTER: 3,
  /** `reap --all` was not confirmed (declined, or no terminal and no --yes). */
  NOT_CONFIRMED: 4,
  /** The command could not do its job for another reason: pod not found, snapshot failed, ... */
  FAILED: 5,
});

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const BY_ERROR_CODE: Partial<Record<ErrorCode, ExitCode>> = {
  BAD_OPTION: EXIT.USAGE,
  UNREACHABLE: EXIT.CLUSTER,
  // No kubeconfig to find the cluster by is as far from it as a dead server.
  NO_CLUSTER: EXIT.CLUSTER,
  FORBIDDEN: EXIT.CLUSTER,
  BAD_FIXTURE: EXIT.PROBLEMS,
};

/** The exit code for an error that ended a command. */
export function exitCodeFor(err: unknown): ExitCode {
  if (isKubecacheError(err)) return BY_ERROR_CODE[err.code] ?? EXIT.FAILED;
  return EXIT.FAILED;
}
