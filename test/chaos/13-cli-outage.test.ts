import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUTS } from '../../src/config/options.js';
import { ensureNamespace } from '../support/cluster.js';
import { type BinRun, runKubecacheBin } from '../support/kubecache-bin.js';
import { component, sleep, waitHealthy, withApiserverFault } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  chaosOptions,
  deleteChaosNamespace,
  podNames,
  spawnRun,
  waitNothingLeft,
} from './support/runs.js';

// Scenario 13: `kubecache ls` and `kubecache reap` run while the API server
// is stalled (SIGSTOP: connections are accepted, nothing answers) for 10 s.
// With the default connect budget (5 s, shorter than the stall) each must
// fail fast: exit code 3 and the UNREACHABLE error; with a budget longer
// than the stall (KUBECACHE_TIMEOUT_API_CONNECT_MS) each must finish once
// the API server answers, exit 0 and do its job. None may outlive its
// deadline, and the crashed run's pod and Secret the reap targets must be
// gone afterwards.
const NS = 'kc-chaos-13';
const STALL_MS = 10_000;
const LONG_CONNECT_MS = 25_000;
// Node's start (four at once on a busy CI machine), the command's own calls
// after it connected.
const SLACK_MS = 10_000;

interface CliRun extends BinRun {
  label: string;
}

/** The built `kubecache` bin in a child process, SIGKILLed (and marked hung) past `deadlineMs`. */
async function kubecache(
  label: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  deadlineMs: number,
): Promise<CliRun> {
  return {
    label,
    ...(await runKubecacheBin(args, { env: { CI: 'true', ...env }, cwd, deadlineMs })),
  };
}

/** The `{error: {code}}` a command printed with --json, if any. */
function errorCode(run: CliRun): string | undefined {
  try {
    return (JSON.parse(run.stdout) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

function describeRun(r: CliRun): string {
  const outcome = r.hung
    ? 'HUNG (killed)'
    : `exit ${r.code}${errorCode(r) ? ` ${errorCode(r)}` : ''}`;
  return `${r.label}: ${outcome} after ${(r.ms / 1000).toFixed(1)} s`;
}

describe.sequential('scenario 13: kubecache ls and reap while the API server is stalled', () => {
  let cwd = '';
  beforeAll(() => {
    // No kubecache.config.* here: the commands take the cluster from flags and env.
    cwd = mkdtempSync(join(tmpdir(), 'kc-chaos-13-'));
  });
  afterAll(async () => {
    rmSync(cwd, { recursive: true, force: true });
    await deleteChaosNamespace(NS);
  });

  it('fail fast with UNREACHABLE (exit 3) or finish once it is back (exit 0); nothing is left', async () => {
    await waitHealthy();
    await ensureNamespace(NS);
    // A crashed run: its pod and Secrets stay until someone reaps them.
    const run = spawnRun(chaosOptions(NS), ['redis']);
    const { runId } = await run.ready;
    run.child.kill('SIGKILL');
    await run.exited;
    const crashedPods = await podNames(NS, runId);

    const flags = ['--namespace', NS, '--json'];
    const fastDeadline = DEFAULT_TIMEOUTS.apiConnectMs + SLACK_MS;
    const longDeadline = LONG_CONNECT_MS + SLACK_MS;
    const patient = { KUBECACHE_TIMEOUT_API_CONNECT_MS: String(LONG_CONNECT_MS) };
    let runs: CliRun[] = [];
    let stalledMs = 0;
    await withApiserverFault(async () => {
      await component('stop');
      const t0 = Date.now();
      const commands = Promise.all([
        kubecache('ls', ['ls', ...flags], {}, cwd, fastDeadline),
        kubecache('reap --run', ['reap', '--run', runId, '--yes', ...flags], {}, cwd, fastDeadline),
        kubecache('ls (25 s connect)', ['ls', ...flags], patient, cwd, longDeadline),
        kubecache(
          'reap --run (25 s connect)',
          ['reap', '--run', runId, '--yes', ...flags],
          patient,
          cwd,
          longDeadline,
        ),
      ]);
      await sleep(Math.max(0, STALL_MS - (Date.now() - t0)));
      await component('cont');
      stalledMs = Date.now() - t0;
      runs = await commands;
    });
    const [lsFast, reapFast, lsLong, reapLong] = runs as [CliRun, CliRun, CliRun, CliRun];
    const reaped = (() => {
      try {
        return (JSON.parse(reapLong.stdout) as { pods?: string[] }).pods ?? [];
      } catch {
        return [];
      }
    })();
    const left = await waitNothingLeft(NS, 60_000, runId);
    const failedFast = (r: CliRun): boolean =>
      !r.hung && r.code === 3 && errorCode(r) === 'UNREACHABLE';
    const finished = (r: CliRun): boolean => !r.hung && r.code === 0;
    const pass =
      failedFast(lsFast) &&
      failedFast(reapFast) &&
      finished(lsLong) &&
      finished(reapLong) &&
      crashedPods.every((p) => reaped.includes(p)) &&
      left.pods.length === 0 &&
      left.secrets.length === 0;
    record({
      n: 13,
      scenario: 'kubecache ls and reap while the API server is stalled 10 s',
      endpoint: 'n/a (CLI)',
      done: `a crashed run left ${crashedPods.length} pod(s); API server SIGSTOPped ${(stalledMs / 1000).toFixed(1)} s; inside the stall: ls and reap --run with the default connect budget (${DEFAULT_TIMEOUTS.apiConnectMs / 1000} s) and with ${LONG_CONNECT_MS / 1000} s`,
      held: `${runs.map(describeRun).join('; ')}; reaped ${reaped.length} of the crashed run's ${crashedPods.length} pod(s); ${left.pods.length} pod(s), ${left.secrets.length} Secret(s) left`,
      figures: `deadlines ${fastDeadline / 1000} s and ${longDeadline / 1000} s; nothing left ${left.ms === undefined ? 'never' : `${(left.ms / 1000).toFixed(1)} s`} after the commands`,
      pass,
    });
    for (const r of [lsFast, reapFast]) {
      expect(r.hung, `${r.label} hung`).toBe(false);
      expect(r.code, `${r.label}: ${r.stdout}${r.stderr}`).toBe(3);
      expect(errorCode(r), r.stdout).toBe('UNREACHABLE');
    }
    for (const r of [lsLong, reapLong]) {
      expect(r.hung, `${r.label} hung`).toBe(false);
      expect(r.code, `${r.label}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    expect(crashedPods.length).toBeGreaterThan(0);
    expect(reaped).toEqual(expect.arrayContaining(crashedPods));
    expect(left.pods).toEqual([]);
    expect(left.secrets).toEqual([]);
  });
});
