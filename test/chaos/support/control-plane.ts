import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoreV1Api } from '@kubernetes/client-node';
import { adminCore, ensureNamespace } from '../../support/cluster.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const script = join(repo, 'test', 'cluster', 'component.sh');
const lib = join(repo, 'test', 'cluster', 'lib.sh');

export type Action = 'kill' | 'stop' | 'cont' | 'start' | 'restart';

/** Runs test/cluster/component.sh; `start` and `restart` return once /readyz answers. */
export function component(
  action: Action,
  name = 'kube-apiserver',
  timeoutMs = 150_000,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile('bash', [script, action, name], { timeout: timeoutMs }, (err, _out, stderr) => {
      if (err) reject(new Error(`component.sh ${action} ${name} failed: ${stderr || err.message}`));
      else resolvePromise();
    });
  });
}

/**
 * A setting of the cluster instance KUBECACHE_CLUSTER selects, as
 * test/cluster/lib.sh computes it (e.g. VARDIR, where its kubelet keeps pod
 * volumes), so a scenario looks at the instance whose API server it damages.
 */
export function clusterSetting(name: 'VARDIR' | 'STATE' | 'NODE_NAME'): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash indirect expansion of $2's name
      ['-c', 'source "$1" && printf %s "${!2}"', 'cluster-setting', lib, name],
      { timeout: 10_000 },
      (err, out, stderr) => {
        if (err || !out) reject(new Error(`lib.sh gave no ${name}: ${stderr || err?.message}`));
        else resolvePromise(out);
      },
    );
  });
}

/**
 * The apiserver is shared with everyone using the dev cluster: whatever a
 * scenario did to it, it is running (and not stopped) when this returns.
 */
export async function restoreApiserver(): Promise<void> {
  await component('start');
}

/** Runs `fault` with the apiserver restored afterwards, whatever happens. */
export async function withApiserverFault<T>(fault: () => Promise<T>): Promise<T> {
  try {
    return await fault();
  } finally {
    await restoreApiserver();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const PROBE_NS = 'kc-chaos-probe';

export interface Health {
  readyMs: number;
  probePodMs: number;
  /** From the probe pod running until a new namespace got its default ServiceAccount. */
  controllersMs: number;
}

/**
 * Waits until the control plane works end to end again: /readyz answers, a
 * probe pod is scheduled and runs, AND a new namespace gets its default
 * ServiceAccount. After apiserver restarts the scheduler's and kubelet's
 * watches can sit in backoff for a while (a new pod stayed Pending 60 s with
 * no events once), and so can the controller-manager's informers: a CI run
 * failed three scenarios because their new namespaces had no ServiceAccount
 * 10 s after an earlier scenario killed the API server. /readyz alone proves
 * none of this.
 */
export async function waitHealthy(limitMs = 180_000): Promise<Health> {
  const t0 = Date.now();
  await component('start', 'kube-apiserver', limitMs);
  const readyMs = Date.now() - t0;
  const core = adminCore();
  // The controllers are not proven yet: should the probe namespace be new,
  // its ServiceAccount may take as long as the check below allows.
  await ensureNamespace(PROBE_NS, limitMs);
  const t1 = Date.now();
  let probePodMs: number | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const name = `probe-${Date.now().toString(36)}`;
    try {
      await core.createNamespacedPod({
        namespace: PROBE_NS,
        body: {
          metadata: { name },
          spec: {
            terminationGracePeriodSeconds: 0,
            containers: [{ name: 'probe', image: 'redis:7-alpine', args: ['--port', '0'] }],
          },
        },
      });
      if (await runningWithin(core, name, Math.max(5000, limitMs / 3))) {
        probePodMs = Date.now() - t1;
        break;
      }
    } catch {
      await sleep(1000);
    } finally {
      await core
        .deleteNamespacedPod({ name, namespace: PROBE_NS, gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }
    if (Date.now() - t0 > limitMs) break;
  }
  if (probePodMs === undefined) {
    throw new Error(`control plane not healthy after ${Date.now() - t0} ms: no probe pod ran`);
  }
  // A throwaway namespace must get its default ServiceAccount: the proof that
  // the controller-manager's informers watch again. Its failure names that.
  const t2 = Date.now();
  const namespace = `kc-chaos-sa-${t2.toString(36)}`;
  try {
    await ensureNamespace(namespace, Math.max(10_000, limitMs - (t2 - t0)));
  } finally {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
  return { readyMs, probePodMs, controllersMs: Date.now() - t2 };
}

async function runningWithin(core: CoreV1Api, name: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const pod = await core.readNamespacedPod({ name, namespace: PROBE_NS }).catch(() => undefined);
    if (pod?.status?.phase === 'Running') return true;
    await sleep(250);
  }
  return false;
}
