import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/daemon/descriptor.js';
import { LABEL_RUN } from '../../src/names.js';
import { adminCore, deleteNamespace, ensureNamespace } from '../support/cluster.js';
import {
  type DaemonProject,
  daemonDescriptor,
  daemonPid,
  daemonProject,
  type RunPlan,
  type StartedRun,
  startDaemonRun,
} from '../support/daemon-runs.js';
import { eventually } from '../support/eventually.js';

// The kubecache daemon (reuse with daemon on) on the dev cluster: each run
// is a separate runner process (fixtures/daemon-run.mjs, the built package)
// and the daemon a real detached process, as on a developer's machine.

const here = dirname(fileURLToPath(import.meta.url));
const NS = `kc-daemon-${createHash('sha256').update(here).digest('hex').slice(0, 6)}`;

const projects: DaemonProject[] = [];

function project(extra: Record<string, string> = {}): DaemonProject {
  const p = daemonProject(NS, extra);
  projects.push(p);
  return p;
}

async function run(p: DaemonProject, plan: RunPlan = {}) {
  const started = startDaemonRun(p, plan);
  const out = await started.first;
  const { code, stderr } = await started.done;
  expect(code, stderr).toBe(0);
  return { ...out, stderr };
}

/**
 * What a write by kubecache changes on a pod: its labels and annotations (run,
 * lease, reuse key) and the field managers of everything but its status. The
 * kubelet updates the status whenever it likes (on containerd 1.6, a second
 * later than the engine answers), and that moves the resourceVersion.
 */
function kubecacheWritten(pod: V1Pod | undefined) {
  return {
    labels: pod?.metadata?.labels,
    annotations: pod?.metadata?.annotations,
    managers: pod?.metadata?.managedFields?.filter((f) => f.subresource !== 'status'),
  };
}

async function livePod(name: string) {
  const pod = await adminCore()
    .readNamespacedPod({ name, namespace: NS })
    .catch(() => undefined);
  return pod && !pod.metadata?.deletionTimestamp ? pod : undefined;
}

/** Waits (bounded) until the run's runner has printed `said` on stderr. */
async function expectPrinted(run: StartedRun, said: string): Promise<void> {
  expect(
    await eventually(
      async () => run.stderr(),
      (out) => out.includes(said),
      20_000,
    ),
  ).toContain(said);
}

describe('the kubecache daemon on the dev cluster', () => {
  beforeAll(async () => {
    await ensureNamespace(NS);
  });

  afterEach(() => {
    // A test that failed halfway leaves its daemon: stop it (it parks its pods).
    for (const p of projects.splice(0)) {
      const pid = daemonPid(p);
      if (pid && processAlive(pid)) process.kill(pid, 'SIGTERM');
      rmSync(p.root, { recursive: true, force: true });
    }
  });

  afterAll(async () => {
    await deleteNamespace(NS);
  });

  it('a warm run gets the same pod without a write to it, seeded again whatever changed since', async () => {
    // Long leases: no renewal falls inside the second run.
    const p = project({
      KUBECACHE_TIMEOUT_LEASE_MS: '600000',
      KUBECACHE_TIMEOUT_LEASE_RENEW_MS: '300000',
    });
    const a = await run(p, { write: ['written', 'by a'] });
    const pid = daemonPid(p);
    expect(pid).toBeDefined();
    expect(processAlive(pid ?? 0)).toBe(true);
    expect(a.stderr).toMatch(/keeps 1 pod\(s\) warm for the next run/);
    // Between the runs, someone changes the data behind kubecache's back.
    const direct = new Redis(a.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await direct.connect();
    await direct.del('string:1');
    await direct.set('between', 'runs');
    direct.disconnect();
    const pod = await livePod(a.pod);
    expect(pod?.metadata?.labels?.[LABEL_RUN]).not.toBe('idle');
    const before = kubecacheWritten(pod);
    expect(before.managers?.length).toBeGreaterThan(0);
    const b = await run(p, { read: ['string:1', 'written', 'between'] });
    expect(b.pod).toBe(a.pod);
    expect(b.values).toEqual({ 'string:1': 'hello ada', written: null, between: null });
    expect(daemonPid(p)).toBe(pid);
    // No claim, no park: kubecache did not write the pod object during the run.
    expect(kubecacheWritten(await livePod(a.pod))).toEqual(before);
  });

  it('a run that starts while the daemon serves another gets a broker and a pod of its own', async () => {
    const p = project();
    const a = startDaemonRun(p, { hold: true });
    const first = await a.first;
    const b = await run(p, { read: ['string:1'] });
    expect(b.pod).not.toBe(first.pod);
    expect(b.values['string:1']).toBe('hello ada');
    expect(b.stderr).toMatch(
      /is serving the run of process \d+\. This run starts its own broker\./,
    );
    a.release();
    expect((await a.done).code).toBe(0);
  });

  it('says a pod deleted mid-run while the run goes on, once', async () => {
    const p = project();
    const a = startDaemonRun(p, { hold: true });
    const first = await a.first;
    const said = `pod ${first.pod} was deleted from outside this run`;
    await adminCore().deleteNamespacedPod({ name: first.pod, namespace: NS });
    // The daemon's broker sees it; the runner prints it before its run ends.
    await expectPrinted(a, said);
    a.release();
    const done = await a.done;
    expect(done.code, done.stderr).toBe(0);
    // The end's reply held it too: printed once all the same.
    expect(done.stderr.split(said)).toHaveLength(2);
  });

  it("a rerun asked by another process deletes none of the run's pods; its own runner's does", async () => {
    const p = project();
    const a = startDaemonRun(p, { hold: true });
    const first = await a.first;
    const d = daemonDescriptor(p);
    expect(d).toBeDefined();
    const rerun = async (pid: number) => {
      const res = await fetch(`${d?.url}/v1/runs/rerun`, {
        method: 'POST',
        headers: { authorization: `Bearer ${d?.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ pid, from: 0 }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { lines: string[] };
    };
    // The first rerun forgets which pods the run used, the second deletes the
    // ones not used since: twice from a stranger would delete the run's pod.
    for (let i = 0; i < 2; i++) expect((await rerun(process.pid)).lines).toEqual([]);
    expect(await livePod(first.pod)).toBeDefined();
    const direct = new Redis(first.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await direct.connect();
    expect(await direct.get('string:1')).toBe('hello ada');
    direct.disconnect();
    // The same two calls from the run's own runner do delete it: the route works.
    await rerun(a.pid);
    await rerun(a.pid);
    // The runner prints the daemon's line (its own poll may take it first).
    const said = `rerun: deleting 1 cache pod(s) the last run did not use: ${first.pod}`;
    await expectPrinted(a, said);
    expect(
      await eventually(
        () => livePod(first.pod),
        (pod) => pod === undefined,
        20_000,
      ),
    ).toBeUndefined();
    a.release();
    const done = await a.done;
    expect(done.code, done.stderr).toBe(0);
  });

  it('a runner that dies mid-run: the daemon ends its run and the next run gets the pod, seeded', async () => {
    const p = project();
    const a = startDaemonRun(p, { write: ['written', 'by a'], crash: true });
    const first = await a.first;
    await a.done;
    const b = await run(p, { read: ['string:1', 'written'] });
    expect(b.pod).toBe(first.pod);
    expect(b.values).toEqual({ 'string:1': 'hello ada', written: null });
  });

  it('a daemon killed between runs is replaced, and its pod is reaped once its lease ends', async () => {
    const p = project({
      KUBECACHE_TIMEOUT_LEASE_MS: '8000',
      KUBECACHE_TIMEOUT_LEASE_RENEW_MS: '2000',
    });
    const a = await run(p);
    const killed = daemonPid(p) ?? 0;
    process.kill(killed, 'SIGKILL');
    expect(
      await eventually(
        async () => processAlive(killed),
        (alive) => !alive,
      ),
    ).toBe(false);
    const b = await run(p, { read: ['string:1'] });
    expect(b.values['string:1']).toBe('hello ada');
    const replacement = daemonPid(p);
    expect(replacement).toBeDefined();
    expect(replacement).not.toBe(killed);
    // The killed daemon's pod was still leased: the new one did not take it.
    expect(b.pod).not.toBe(a.pod);
    // Each run on a daemon reaps as an in-process broker's start does; once
    // the dead daemon's lease has ended, a run deletes its pod.
    const left = await eventually(
      async () => {
        await run(p);
        return livePod(a.pod);
      },
      (pod) => pod === undefined,
      60_000,
      2_000,
    );
    expect(left?.metadata?.name).toBeUndefined();
  });

  it('a daemon idle for reuseIdleSeconds deletes its pods and exits', async () => {
    const p = project({ KUBECACHE_REUSE_IDLE_SECONDS: '3' });
    const a = await run(p);
    const pid = daemonPid(p) ?? 0;
    expect(processAlive(pid)).toBe(true);
    expect(await livePod(a.pod)).toBeDefined();
    const after = await eventually(
      async () => ({ alive: processAlive(pid), pod: await livePod(a.pod), file: daemonPid(p) }),
      (s) => !s.alive && s.pod === undefined && s.file === undefined,
    );
    expect(after).toEqual({ alive: false, pod: undefined, file: undefined });
  });
});
