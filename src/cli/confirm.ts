import { createInterface } from 'node:readline/promises';
import { readCI } from '../config/env.js';

export type ConfirmDecision = { kind: 'yes' } | { kind: 'ask' } | { kind: 'refuse'; why: string };

/**
 * Pure: whether a destructive command may go on, must ask, or must refuse.
 * Without a terminal (a pipe, a CI job) nobody can answer, and waiting for an
 * answer would hang the job, so the command refuses and says to pass --yes.
 */
export function confirmDecision(input: {
  yes: boolean;
  stdinIsTTY: boolean;
  env: NodeJS.ProcessEnv;
}): ConfirmDecision {
  if (input.yes) return { kind: 'yes' };
  const ci = readCI(input.env);
  if (ci !== undefined) return { kind: 'refuse', why: `CI=${ci} is set` };
  if (!input.stdinIsTTY) return { kind: 'refuse', why: 'standard input is not a terminal' };
  return { kind: 'ask' };
}

/** Pure: only an explicit yes counts. */
export function isYes(answer: string): boolean {
  return /^(y|yes)$/i.test(answer.trim());
}

/** Asks on the terminal; resolves false on "no", an empty answer or end of input. */
export async function askYesNo(
  question: string,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<boolean> {
  const rl = createInterface({ input, output, terminal: false });
  try {
    const closed = new Promise<string>((resolve) => rl.once('close', () => resolve('')));
    return isYes(await Promise.race([rl.question(`${question} [y/N] `), closed]));
  } finally {
    rl.close();
  }
}
