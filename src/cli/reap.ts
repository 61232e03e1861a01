import { Command } from 'commander';
import { KubecacheError } from '../errors.js';
import { type ReapScope, reap } from '../kube/reaper.js';
import { isValidRunId } from '../names.js';
import { askYesNo, confirmDecision } from './confirm.js';
import { EXIT } from './exit-codes.js';
import { type CliIO, globalFlags, printJson } from './io.js';
import { plural } from './output.js';
import { connect, loadCliContext, requireNamespace } from './target.js';

export interface ReapFlags {
  run?: string;
  all?: boolean;
  yes?: boolean;
  dryRun?: boolean;
}

/** Pure: the scope the flags ask for; a malformed run id is a usage error. */
export function reapScope(flags: ReapFlags): ReapScope {
  if (flags.run !== undefined) {
    if (!isValidRunId(flags.run)) {
      throw new KubecacheError(
        'BAD_OPTION',
        `--run ${JSON.stringify(flags.run)} is not a kubecache run id (10 lowercase letters and digits, as "kubecache ls" shows in the RUN column).`,
        { field: '--run', value: flags.run },
      );
    }
    return { kind: 'run', runId: flags.run };
  }
  return flags.all ? { kind: 'all' } : { kind: 'expired' };
}

function describeScope(scope: ReapScope): string {
  if (scope.kind === 'run') return `of run ${scope.runId}`;
  if (scope.kind === 'all') return 'of every run, live or not,';
  return 'with an expired lease';
}

export function reapCommand(io: CliIO): Command {
  return new Command('reap')
    .description('delete kubecache pods and secrets: those with an expired lease by default')
    .option('--run <id>', 'delete the pods and secrets of this run, live or not')
    .option('--all', 'delete every kubecache pod and secret in the namespace (asks first)')
    .option(
      '-y, --yes',
      'do not ask for confirmation (needed for --all without a terminal or with CI=true)',
    )
    .option('--dry-run', 'only list what would be deleted')
    .action(async (opts: ReapFlags, cmd: Command) => {
      const flags = globalFlags(cmd);
      if (opts.run !== undefined && opts.all) {
        throw new KubecacheError(
          'BAD_OPTION',
          '--run and --all exclude each other; pass one of them.',
          {
            field: '--all',
          },
        );
      }
      const scope = reapScope(opts);
      const ctx = await loadCliContext(flags, io.cwd, io.env);
      const handle = await connect(ctx);
      await requireNamespace(handle);
      const graceMs = ctx.cluster.timeouts.leaseMs;
      if (scope.kind === 'all' && !opts.dryRun) {
        const decision = confirmDecision({
          yes: opts.yes === true,
          stdinIsTTY: io.stdin.isTTY === true,
          env: io.env,
        });
        if (decision.kind === 'refuse') {
          const message = `refusing to delete every kubecache pod and secret in namespace ${handle.namespace} without confirmation: ${decision.why}. Rerun with --yes to confirm, or use "kubecache reap" (expired leases only) or "--run <id>".`;
          if (flags.json) printJson(io, { error: { code: 'NOT_CONFIRMED', message } });
          else io.err(message);
          io.exitCode = EXIT.NOT_CONFIRMED;
          return;
        }
        if (decision.kind === 'ask') {
          const planned = await reap(handle, scope, { graceMs, dryRun: true });
          const ok = await askYesNo(
            `Delete ${plural(planned.pods.length, 'pod')} and ${plural(planned.secrets.length, 'secret')} in namespace ${handle.namespace}, including those of live runs?`,
            io.stdin,
            io.promptOutput,
          );
          if (!ok) {
            io.err('nothing deleted.');
            io.exitCode = EXIT.NOT_CONFIRMED;
            return;
          }
        }
      }
      const report = await reap(handle, scope, { graceMs, dryRun: opts.dryRun === true });
      if (flags.json) {
        printJson(io, {
          namespace: handle.namespace,
          scope,
          dryRun: opts.dryRun === true,
          ...report,
        });
      } else if (report.pods.length + report.secrets.length === 0) {
        io.out(
          `nothing to reap: no kubecache pods or secrets ${describeScope(scope)} in namespace ${handle.namespace}.`,
        );
      } else {
        const verb = opts.dryRun ? 'would delete' : 'deleted';
        io.out(
          `${verb} ${plural(report.pods.length, 'pod')} and ${plural(report.secrets.length, 'secret')} ${describeScope(scope)} in namespace ${handle.namespace}:`,
        );
        const idle = new Set(report.idle);
        for (const name of report.pods)
          io.out(
            `  pod/${name}${idle.has(name) ? ' (kept for reuse, idle past its idle time)' : ''}`,
          );
        for (const name of report.secrets) io.out(`  secret/${name}`);
      }
      io.exitCode = EXIT.OK;
    });
}
