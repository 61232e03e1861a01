import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/daemon/descriptor.js';
import { ensureNamespace } from '../support/cluster.js';
import {
  daemonPid,
  daemonProject,
  type RunOutput,
  type RunPlan,
  startDaemonRun,
} from '../support/daemon-runs.js';
import { component, sleep, waitHealthy, withApiserverFault } from './support/control-plane.js';
import { record } from './support/report.js';
import { CHAOS_TIMEOUTS, deleteChaosNamespace, waitNothingLeft } from './support/runs.js';

// Scenario 11: the API server stalls (SIGSTOP) for 12 s between runs that use
// the kubecache daemon (reuse). A run that starts inside the stall must still
// get its warm pod, seeded, and end, since the daemon hands out warm pods
// without the API; the next run after the stall gets the same pod; and once
// the daemon's idle time is over it deletes everything and exits.
const NS = 'kc-chaos-11';
const STALL_MS = 12_000;
const IDLE_S = 25;

const project = daemonProject(NS, {
  KUBECACHE_REUSE_IDLE_SECONDS: String(IDLE_S),
  KUBECACHE_TIMEOUT_LEASE_MS: String(CHAOS_TIMEOUTS.leaseMs),
  KUBECACHE_TIMEOUT_LEASE_RENEW_MS: String(CHAOS_TIMEOUTS.leaseRenewMs),
});

type Ran = Partial<RunOutput> & { code: number | null; ms: number; stderr: string };

/** One run, killed if it takes longer than `boundMs` (a hang counts as a failure). */
async function runOnce(plan: RunPlan, boundMs: number): Promise<Ran> {
  const started = startDaemonRun(project, plan);
  const bound = setTimeout(() => started.kill(), boundMs);
  const out = await started.first.catch(() => undefined);
  const done = await started.done;
  clearTimeout(bound);
  return { ...out, ...done };
}

describe.sequential('scenario 11: API server stalled between warm runs on the daemon', () => {
  beforeAll(async () => {
    await waitHealthy();
    await ensureNamespace(NS);
  });
  afterAll(async () => {
    const pid = daemonPid(project);
    if (pid && processAlive(pid)) process.kill(pid, 'SIGTERM');
    rmSync(project.root, { recursive: true, force: true });
    await deleteChaosNamespace(NS);
  });

  it('a run inside the stall gets its warm pod, seeded; after it, the daemon cleans up', async () => {
    const row = { done: '', held: '', figures: '', pass: false };
    try {
      const a = await runOnce({ write: ['written', 'by a'] }, 120_000);
      expect(a.code, a.stderr).toBe(0);
      const pid = daemonPid(project) ?? 0;
      let b: Ran | undefined;
      await withApiserverFault(async () => {
        await component('stop');
        const stalledAt = Date.now();
        b = await runOnce({ read: ['string:1', 'written'] }, 60_000);
        await sleep(Math.max(0, STALL_MS - (Date.now() - stalledAt)));
        await component('cont');
      });
      const health = await waitHealthy();
      const c = await runOnce({ read: ['string:1', 'written'] }, 120_000);
      const seeded = { 'string:1': 'hello ada', written: null };
      const inStall =
        b?.code === 0 && b.pod === a.pod && JSON.stringify(b.values) === JSON.stringify(seeded);
      const after =
        c.code === 0 && c.pod === a.pod && JSON.stringify(c.values) === JSON.stringify(seeded);
      // The daemon's idle time runs from the last run's end.
      const left = await waitNothingLeft(NS, (IDLE_S + 60) * 1000);
      // It exits once its teardown has seen the deletes through.
      for (let i = 0; i < 120 && processAlive(pid); i++) await sleep(250);
      const exited = !processAlive(pid);
      row.done = `runner A (reuse, daemon) writes and ends; API server SIGSTOPped ${STALL_MS / 1000} s, runner B starts inside the stall; runner C after it; daemon idle time ${IDLE_S} s`;
      row.held = `B in the stall: ${b?.code === 0 ? `ended in ${((b?.ms ?? 0) / 1000).toFixed(1)} s` : `failed (exit ${b?.code})`}, ${b?.pod === a.pod ? 'same warm pod' : `other pod ${b?.pod}`}, ${inStall ? 'seeded' : `read ${JSON.stringify(b?.values)}`}; C after: ${after ? 'same pod, seeded' : `failed: ${JSON.stringify(c.values)} exit ${c.code}`}; after the idle time: ${left.pods.length} pod(s), ${left.secrets.length} Secret(s) left, daemon ${exited ? 'exited' : 'still running'}`;
      row.figures = `B ${((b?.ms ?? 0) / 1000).toFixed(1)} s, C ${(c.ms / 1000).toFixed(1)} s; all deleted ${left.ms === undefined ? 'never' : `${(left.ms / 1000).toFixed(1)} s`} after C ended; control plane healthy ${(health.readyMs + health.probePodMs + health.controllersMs) / 1000} s after the stall`;
      row.pass = inStall && after && left.pods.length === 0 && left.secrets.length === 0 && exited;
      if (!inStall) row.held += ` | B stderr: ${b?.stderr.slice(-300)}`;
    } finally {
      record({
        n: 11,
        scenario: 'API server stalled 12 s between warm runs on the daemon',
        ...row,
      });
    }
    expect(row.pass, `${row.held} | ${row.figures}`).toBe(true);
  });
});
