import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSelector } from '../../src/names.js';
import {
  adminCore,
  adminKubeconfigPath,
  deleteNamespace,
  ensureNamespace,
} from '../support/cluster.js';
import { eventuallyEmpty } from '../support/eventually.js';

// Claim 5: Ctrl-C during startup, with two sessions in one process.
const NS = 'kc-ft-signals';
const here = dirname(fileURLToPath(import.meta.url));

/** The run's pods and Secrets; `live` leaves out pods being deleted. */
async function objects(runId: string, opts: { live?: boolean } = {}): Promise<string[]> {
  const core = adminCore();
  const selector = runSelector(runId);
  const [pods, secrets] = await Promise.all([
    core.listNamespacedPod({ namespace: NS, labelSelector: selector }),
    core.listNamespacedSecret({ namespace: NS, labelSelector: selector }),
  ]);
  const listed = opts.live ? pods.items.filter((p) => !p.metadata?.deletionTimestamp) : pods.items;
  return [...listed, ...secrets.items].map((o) => o.metadata?.name ?? '');
}

describe('SIGINT while two sessions of one process start their caches', () => {
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    await ensureNamespace(NS);
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await deleteNamespace(NS);
  });

  it('deletes every pod of both sessions, those still starting included, and ends by the signal', async () => {
    child = spawn(process.execPath, [join(here, 'fixtures/two-sessions-sigint.mjs')], {
      env: { ...process.env, KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: NS },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child?.on('exit', (code, signal) => r({ code, signal })),
    );
    const runIds = await new Promise<string[]>((resolve, reject) => {
      let out = '';
      child?.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n'))
          resolve((JSON.parse(out.split('\n')[0] ?? '') as { runIds: string[] }).runIds);
      });
      child?.on('exit', (code) => reject(new Error(`fixture exited early (${code}): ${stderr}`)));
    });
    // Two sessions, each with a run of its own: with fewer, the checks below cover less.
    expect(runIds).toHaveLength(2);
    expect(new Set(runIds).size).toBe(2);
    // Interrupt as soon as the second session has pods in the API: they are still starting.
    for (let i = 0; i < 300; i++) {
      if ((await objects(runIds[1] ?? '')).length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await objects(runIds[1] ?? '')).not.toEqual([]);
    child.kill('SIGINT');
    const { code, signal } = await exited;
    expect(signal === 'SIGINT' || code === 130, `code ${code}, signal ${signal}\n${stderr}`).toBe(
      true,
    );
    expect(stderr).toContain('[kubecache] SIGINT: deleting');
    expect(stderr).not.toContain('exiting without waiting');
    // Every pod of either session is deleted once the process has ended, and
    // gone once the kubelet has stopped it; its Secrets are gone at once.
    expect((await Promise.all(runIds.map((id) => objects(id, { live: true })))).flat()).toEqual([]);
    expect(
      await eventuallyEmpty(async () =>
        (await Promise.all(runIds.map((id) => objects(id)))).flat(),
      ),
    ).toEqual([]);
  }, 120_000);
});
