import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BatchV1Api,
  type CoreV1Api,
  loadAllYaml,
  RbacAuthorizationV1Api,
  type V1Job,
  type V1Pod,
  type V1Role,
  type V1RoleBinding,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managedSelector } from '../../src/names.js';
import { adminCore, adminKubeConfig } from '../support/cluster.js';
import { expectDeletedThenGone } from '../support/pods-gone.js';

// A CI runner inside the cluster, as users run it: the runner image (Node 24,
// the packed kubecache tarball, a Vitest and a Jest CJS consumer) runs as the
// Job from docs/ci.md under a ServiceAccount bound to the Role from
// docs/rbac.md, both read from the docs themselves so they cannot drift. It
// uses in-cluster config, the Pod IP endpoint and HTTP seeding from its own
// Pod IP.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function yamlBlocks(doc: string): unknown[] {
  const text = readFileSync(join(repo, doc), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks.flatMap((b) => loadAllYaml(b) as unknown[]);
}

function ofKind<T>(objects: unknown[], kind: string, doc: string): T {
  const found = objects.find((o) => (o as { kind?: string }).kind === kind);
  if (!found) throw new Error(`${doc} has no ${kind} in its yaml blocks`);
  return structuredClone(found) as T;
}

const rbacDoc = yamlBlocks('docs/rbac.md');
const ciDoc = yamlBlocks('docs/ci.md');
const DOC_ROLE = ofKind<V1Role>(rbacDoc, 'Role', 'docs/rbac.md');
const DOC_BINDING = ofKind<V1RoleBinding>(rbacDoc, 'RoleBinding', 'docs/rbac.md');
const DOC_SA = ofKind<V1ServiceAccount>(ciDoc, 'ServiceAccount', 'docs/ci.md');
const DOC_JOB = ofKind<V1Job>(ciDoc, 'Job', 'docs/ci.md');

const kc = adminKubeConfig();
const core: CoreV1Api = adminCore();
const batch = kc.makeApiClient(BatchV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MANAGED = managedSelector();

let image = '';

/** A namespace with the docs' ServiceAccount, Role and RoleBinding in it. */
async function prepareNamespace(namespace: string, restricted: boolean): Promise<void> {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  for (let i = 0; i < 600; i++) {
    const ns = await core.readNamespace({ name: namespace }).catch(() => undefined);
    if (!ns) break;
    await sleep(100);
  }
  const labels: Record<string, string> = restricted
    ? {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
      }
    : {};
  await core.createNamespace({ body: { metadata: { name: namespace, labels } } });
  const sa = DOC_SA;
  sa.metadata = { ...sa.metadata, namespace };
  const role = DOC_ROLE;
  role.metadata = { ...role.metadata, namespace };
  const binding = DOC_BINDING;
  binding.metadata = { ...binding.metadata, namespace };
  binding.subjects = (binding.subjects ?? []).map((s) => ({ ...s, namespace }));
  await core.createNamespacedServiceAccount({ namespace, body: sa });
  await rbac.createNamespacedRole({ namespace, body: role });
  await rbac.createNamespacedRoleBinding({ namespace, body: binding });
}

/** The docs' Job with only the image, working dir and command changed. */
function jobFor(namespace: string, name: string, script: string): V1Job {
  const job = structuredClone(DOC_JOB);
  job.metadata = { ...job.metadata, name, namespace };
  const spec = job.spec?.template.spec;
  const container = spec?.containers[0];
  if (!spec || !container) throw new Error('docs/ci.md: the Job has no container');
  container.image = image;
  container.imagePullPolicy = 'IfNotPresent';
  container.workingDir = '/work';
  // sh stays PID 1 (the script has more than one command), and a PID 1 shell
  // ignores SIGTERM: deleting the pod then kills the runner without giving it
  // a chance to tear down, so only the ownerReference can remove the caches.
  container.command = ['sh', '-c', `${script}\necho kubecache-runner: exit $?`];
  // This 2-core machine runs the control plane, the runner and its caches at
  // once: give the first API call more than the default 5 s.
  container.env = [
    ...(container.env ?? []),
    { name: 'KUBECACHE_TIMEOUT_API_CONNECT_MS', value: '30000' },
  ];
  return job;
}

async function runnerPod(namespace: string, job: string): Promise<V1Pod> {
  for (let i = 0; i < 300; i++) {
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `batch.kubernetes.io/job-name=${job}`,
    });
    const pod = pods.items[0];
    if (pod?.metadata?.uid) return pod;
    await sleep(200);
  }
  throw new Error(`job ${job} made no pod within 60 s`);
}

async function logsOf(namespace: string, pod: string): Promise<string> {
  return core.readNamespacedPodLog({ name: pod, namespace, container: 'tests' }).catch(() => '');
}

async function cachePods(namespace: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: MANAGED })).items;
}

interface Observed {
  caches: Map<string, V1Pod>;
  phase: string;
  logs: string;
  pod: V1Pod;
  ms: number;
}

/** Runs a Job to its end, noting every cache pod seen on the way. */
async function runJob(namespace: string, name: string, script: string): Promise<Observed> {
  const t0 = Date.now();
  await batch.createNamespacedJob({ namespace, body: jobFor(namespace, name, script) });
  const pod = await runnerPod(namespace, name);
  const caches = new Map<string, V1Pod>();
  let phase = '';
  for (let i = 0; i < 1500; i++) {
    for (const c of await cachePods(namespace)) caches.set(c.metadata?.name ?? '', c);
    const now = await core
      .readNamespacedPod({ name: pod.metadata?.name ?? '', namespace })
      .catch(() => undefined);
    phase = now?.status?.phase ?? 'Gone';
    if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Gone') break;
    await sleep(200);
  }
  // Without colours: the runners colour their summaries even into a pod log.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences
  const logs = (await logsOf(namespace, pod.metadata?.name ?? '')).replace(/\x1b\[[0-9;]*m/g, '');
  return { caches, phase, logs, pod, ms: Date.now() - t0 };
}

function expectOwnedBy(caches: Iterable<V1Pod>, runner: V1Pod): void {
  for (const c of caches) {
    expect(c.metadata?.ownerReferences, c.metadata?.name).toEqual([
      expect.objectContaining({
        apiVersion: 'v1',
        kind: 'Pod',
        name: runner.metadata?.name,
        uid: runner.metadata?.uid,
      }),
    ]);
  }
}

const SUITES = [
  'cd /work/vitest-4-esm && node node_modules/vitest/vitest.mjs run',
  'cd /work/jest-29-cjs && node node_modules/jest/bin/jest.js --ci',
].join(' && ');

beforeAll(() => {
  const r = spawnSync('bash', [join(repo, 'test/cluster/runner-image.sh')], {
    encoding: 'utf8',
    timeout: 900_000,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`runner-image.sh failed (${r.status}): ${r.error ?? ''}`);
  image = r.stdout.trim().split('\n').pop() ?? '';
  expect(image).toMatch(/^docker\.io\/kubecache\/ci-runner:/);
}, 900_000);

for (const restricted of [false, true]) {
  const namespace = restricted ? 'kc-in-cluster-restricted' : 'kc-in-cluster';
  describe(`a CI runner pod in ${restricted ? 'a Pod Security "restricted"' : 'a plain'} namespace`, () => {
    beforeAll(() => prepareNamespace(namespace, restricted), 120_000);
    afterAll(async () => {
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    });

    it('passes the Vitest and Jest suites, its caches owned by the runner pod', async () => {
      const run = await runJob(namespace, 'suites', SUITES);
      console.log(
        `[in-cluster] ${namespace}: runner pod ${run.phase} in ${run.ms} ms, ${run.caches.size} caches`,
      );
      expect(run.logs, run.logs).toMatch(/Test Files\s+4 passed \(4\)/);
      // Jest: every test passed ("Tests: 1 failed, 15 passed, 16 total" otherwise).
      const jest = /Tests:\s+(\d+) passed, (\d+) total/.exec(run.logs);
      expect(jest?.[1], run.logs.slice(-4000)).toBeDefined();
      expect(jest?.[1]).toBe(jest?.[2]);
      expect(run.logs).toContain('kubecache-runner: exit 0');
      expect(run.phase).toBe('Succeeded');
      // Pods of both suites (redis and memcached each) were seen, all owned by the runner.
      expect(run.caches.size).toBeGreaterThanOrEqual(2);
      expectOwnedBy(run.caches.values(), run.pod);
      // The runner deleted its caches itself on the way out (its pod still
      // exists, so the garbage collector has not acted); the kubelet then
      // removes them.
      await expectDeletedThenGone(() => cachePods(namespace));
    }, 600_000);

    if (restricted) return;

    it('loses its caches to the garbage collector when the runner pod is deleted mid-run', async () => {
      const name = 'hold';
      await batch.createNamespacedJob({
        namespace,
        body: jobFor(
          namespace,
          name,
          'cd /work/vitest-4-esm && node node_modules/vitest/vitest.mjs run --config hold.config.js',
        ),
      });
      const pod = await runnerPod(namespace, name);
      const podName = pod.metadata?.name ?? '';
      let caches: V1Pod[] = [];
      let ready = false;
      for (let i = 0; i < 900 && !ready; i++) {
        caches = await cachePods(namespace);
        ready = caches.length > 0 && (await logsOf(namespace, podName)).includes('cache ready');
        if (!ready) await sleep(200);
      }
      // Mid-run: the test in the runner pod holds an open cache when its pod goes.
      expect(ready, 'the runner pod never logged "cache ready"').toBe(true);
      expect(caches.length).toBeGreaterThan(0);
      expectOwnedBy(caches, pod);

      const t0 = Date.now();
      await core.deleteNamespacedPod({ name: podName, namespace, gracePeriodSeconds: 0 });
      let left = caches;
      for (let i = 0; i < 600 && left.length > 0; i++) {
        await sleep(100);
        left = await cachePods(namespace);
      }
      const gcMs = Date.now() - t0;
      console.log(
        `[in-cluster] runner pod deleted: its ${caches.length} cache(s) gone in ${gcMs} ms`,
      );
      expect(left).toEqual([]);
      await batch
        .deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' })
        .catch(() => undefined);
    }, 300_000);
  });
}
