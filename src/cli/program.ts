import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isKubecacheError, KubecacheError } from '../errors.js';
import { checkCommand } from './check.js';
import { doctorCommand } from './doctor.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import type { CliIO } from './io.js';
import { lsCommand } from './ls.js';
import { reapCommand } from './reap.js';
import { snapshotCommand } from './snapshot.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function buildProgram(io: CliIO): Command {
  const program = new Command('kubecache')
    .description('Inspect and clean up the cache pods kubecache runs on Kubernetes.')
    .version(packageVersion())
    .option(
      '--kubeconfig <path>',
      'kubeconfig file (default: KUBECACHE_KUBECONFIG, KUBECONFIG, ~/.kube/config)',
    )
    .option(
      '--context <name>',
      'kubeconfig context (default: KUBECACHE_CONTEXT, then the current context)',
    )
    .option(
      '-n, --namespace <name>',
      "namespace (default: KUBECACHE_NAMESPACE, the config file's, then the context's)",
    )
    .option('--json', 'print one JSON document on stdout, for scripts')
    .showHelpAfterError('(run "kubecache --help" for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 problems found, 2 usage error, 3 no cluster, cluster unreachable or permission denied,\n4 not confirmed (reap --all), 5 the command failed. See node_modules/kubecache/docs/cli.md.',
    )
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
    })
    .exitOverride();
  for (const make of [doctorCommand, lsCommand, reapCommand, snapshotCommand, checkCommand]) {
    const cmd = make(io);
    cmd.exitOverride().configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
    });
    cmd.showHelpAfterError(`(run "kubecache ${cmd.name()} --help" for usage)`);
    program.addCommand(cmd);
  }
  return program;
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const program = buildProgram(io);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return io.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version end through here too, with exit code 0.
      if (err.exitCode === 0) return EXIT.OK;
      if (json) io.out(JSON.stringify({ error: { code: 'USAGE', message: err.message } }, null, 2));
      return EXIT.USAGE;
    }
    const error = isKubecacheError(err)
      ? err
      : new KubecacheError(
          'INTERNAL',
          `${(err as Error)?.message ?? String(err)}`,
          {},
          { cause: err },
        );
    if (json) io.out(JSON.stringify({ error: error.toJSON() }, null, 2));
    // The message already starts with its code ([NO_CLUSTER] ...).
    else io.err(`kubecache: ${error.message}`);
    return exitCodeFor(error);
  }
}
