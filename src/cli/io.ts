import type { Command } from 'commander';
import type { GlobalFlags } from './target.js';

/** Everything a command touches outside itself, so tests and main() can supply it. */
export interface CliIO {
  /** Writes to standard output; a newline is added. */
  out(text: string): void;
  /** Writes to standard error; a newline is added. */
  err(text: string): void;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  /** For prompts, which go to stderr so stdout stays parseable. */
  promptOutput: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Set by the command that ran. */
  exitCode: number;
}

/** The global flags as commander parsed them for `cmd`. */
export function globalFlags(cmd: Command): GlobalFlags {
  const all = cmd.optsWithGlobals() as GlobalFlags;
  const out: GlobalFlags = {};
  if (all.kubeconfig !== undefined) out.kubeconfig = all.kubeconfig;
  if (all.context !== undefined) out.context = all.context;
  if (all.namespace !== undefined) out.namespace = all.namespace;
  if (all.json) out.json = true;
  return out;
}

/** Prints data as one JSON document (pretty, for people who pipe it to less too). */
export function printJson(io: CliIO, data: unknown): void {
  io.out(JSON.stringify(data, null, 2));
}
