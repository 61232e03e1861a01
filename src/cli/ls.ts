import { Command } from 'commander';
import { type CachePodInfo, groupRuns, listInventory, type RunInfo } from '../kube/inventory.js';
import { EXIT } from './exit-codes.js';
import { type CliIO, globalFlags, printJson } from './io.js';
import { formatDuration, formatLease, formatTable, plural } from './output.js';
import { connect, loadCliContext, requireNamespace } from './target.js';

export interface LsReport {
  namespace: string;
  context: string;
  now: string;
  runs: RunInfo[];
}

function holder(p: { host?: string; pid?: number }): string {
  if (!p.host && !p.pid) return '-';
  return `${p.host ?? '?'}:${p.pid ?? '?'}`;
}

function notes(pod: CachePodInfo): string {
  const parts = Object.entries(pod.extra).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
  if (pod.reuse !== 'none')
    parts.unshift(pod.reuse === 'idle' ? 'idle (kept for reuse)' : 'reused');
  if (pod.deleting) parts.unshift('deleting');
  return parts.join(',') || '-';
}

/** Pure: the human listing. */
export function formatLs(report: LsReport): string {
  const pods = report.runs.reduce((n, r) => n + r.pods.length, 0);
  const head = `namespace ${report.namespace} (context ${report.context}): ${plural(report.runs.length, 'run')}, ${plural(pods, 'pod')}`;
  if (report.runs.length === 0) return `${head}\nno kubecache pods or secrets here.`;
  const runRows = report.runs.map((r) => [
    r.run || '(none)',
    holder(r),
    r.ageMs === undefined ? '-' : formatDuration(r.ageMs),
    `${r.lease}, ${formatLease(r.leaseInMs)}`,
    String(r.pods.length),
    String(r.secrets.length),
  ]);
  const podRows = report.runs.flatMap((r) =>
    r.pods.map((p) => [
      p.run || '(none)',
      p.name,
      p.engine,
      p.worker,
      p.phase + (p.ready ? '' : ' (not ready)'),
      p.ageMs === undefined ? '-' : formatDuration(p.ageMs),
      formatLease(p.leaseInMs),
      notes(p),
    ]),
  );
  const parts = [
    head,
    '',
    formatTable(['RUN', 'HOLDER', 'AGE', 'LEASE', 'PODS', 'SECRETS'], runRows),
  ];
  if (podRows.length > 0) {
    parts.push(
      '',
      formatTable(
        ['RUN', 'POD', 'ENGINE', 'WORKER', 'PHASE', 'AGE', 'LEASE', 'REUSE/NOTES'],
        podRows,
      ),
    );
  }
  return parts.join('\n');
}

export function lsCommand(io: CliIO): Command {
  return new Command('ls')
    .description(
      'list the kubecache runs, pods and secrets in the namespace, with leases and holders',
    )
    .option('--run <id>', 'only this run')
    .action(async (opts: { run?: string }, cmd: Command) => {
      const flags = globalFlags(cmd);
      const ctx = await loadCliContext(flags, io.cwd, io.env);
      const handle = await connect(ctx);
      const { pods, secrets } = await listInventory(handle);
      // Only an empty listing can hide a namespace that does not exist.
      if (pods.length + secrets.length === 0) await requireNamespace(handle);
      // Leases are written in the API server's clock, so they are judged by it too.
      const now = new Date(handle.clock.now());
      let runs = groupRuns(pods, secrets, now, ctx.cluster.timeouts.leaseMs);
      if (opts.run !== undefined) runs = runs.filter((r) => r.run === opts.run);
      const report: LsReport = {
        namespace: handle.namespace,
        context: handle.context,
        now: now.toISOString(),
        runs,
      };
      if (flags.json) printJson(io, report);
      else io.out(formatLs(report));
      io.exitCode = EXIT.OK;
    });
}
