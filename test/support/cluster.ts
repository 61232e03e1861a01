import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';

// Plain Node loads this file too (the consumer and doc-test runners, by type
// stripping), which resolves no `.js` import to a `.ts` source: so it
// imports nothing from src/.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The dev cluster's admin kubeconfig. Integration tests never skip: without a
 * cluster they fail, telling how to start one.
 */
export function adminKubeconfigPath(): string {
  const path =
    process.env.KUBECACHE_TEST_KUBECONFIG ?? join(repo, '.kubecache-dev', 'admin.kubeconfig');
  if (!existsSync(path)) {
    throw new Error(
      `no dev cluster kubeconfig at ${path}: run "npm run cluster:up" first (npm test does it for you).`,
    );
  }
  return path;
}

/**
 * The dev cluster's bridge address, where pods reach this machine: the API
 * server listens on it, so it is the admin kubeconfig's server host. Each
 * cluster configuration (test/cluster/lib.sh) has its own.
 */
export function devBridgeIP(): string {
  const server = adminKubeConfig().getCurrentCluster()?.server;
  if (!server) throw new Error(`the admin kubeconfig ${adminKubeconfigPath()} names no server`);
  return new URL(server).hostname;
}

export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(adminKubeconfigPath());
  return kc;
}

export function adminCore(): CoreV1Api {
  return adminKubeConfig().makeApiClient(CoreV1Api);
}

export function adminNetworking(): NetworkingV1Api {
  return adminKubeConfig().makeApiClient(NetworkingV1Api);
}

/**
 * How many requests of one kind the API server has served since it started,
 * from its own /metrics (apiserver_request_total, summed over codes and
 * clients). The difference around an action counts what the action sent,
 * as long as nothing else sends that kind meanwhile.
 */
export async function apiServerRequests(kind: {
  verb: string;
  resource: string;
  subresource?: string;
}): Promise<number> {
  const kc = adminKubeConfig();
  const server = kc.getCurrentCluster()?.server ?? '';
  const opts: Parameters<typeof request>[1] = { method: 'GET' };
  await kc.applyToHTTPSOptions(opts);
  const text = await new Promise<string>((resolveText, reject) => {
    const req = request(new URL('/metrics', server), opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200
          ? resolveText(body)
          : reject(new Error(`GET /metrics answered ${res.statusCode}: ${body.slice(0, 200)}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
  const want = [
    `verb="${kind.verb}"`,
    `resource="${kind.resource}"`,
    `subresource="${kind.subresource ?? ''}"`,
  ];
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    if (want.every((w) => line.includes(w))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/**
 * Creates `name` if need be and waits until pods can be made in it: not
 * Terminating, and given its default ServiceAccount by the controller-manager
 * (pods are refused until then).
 *
 * The ServiceAccount is usually there at once. The default wait of 10 s is
 * for the integration suite, which never restarts the API server: longer
 * means a broken cluster. After an API server restart the controller-
 * manager's informers can sit in back-off for tens of seconds, so the chaos
 * suite's waitHealthy (run before every scenario creates its namespaces)
 * proves through this very wait, with its own longer budget, that a new
 * namespace gets its ServiceAccount again.
 */
export async function ensureNamespace(name: string, serviceAccountWaitMs = 10_000): Promise<void> {
  const core = adminCore();
  // A namespace left Terminating by an earlier run refuses new pods: wait it
  // out (its finalizers are the controller-manager's; a minute is ample).
  const terminatingUntil = Date.now() + 60_000;
  for (;;) {
    const ns = await core.readNamespace({ name }).catch(() => undefined);
    if (ns && ns.status?.phase !== 'Terminating') break;
    if (Date.now() >= terminatingUntil) {
      throw new Error(
        `namespace ${name} is still Terminating after 60 s: its finalizers do not end`,
      );
    }
    if (ns) await pause(100);
    else await core.createNamespace({ body: { metadata: { name } } }).catch(ignoreConflict);
  }
  const accountUntil = Date.now() + serviceAccountWaitMs;
  for (;;) {
    const account = await core
      .readNamespacedServiceAccount({ name: 'default', namespace: name })
      .catch(() => undefined);
    if (account) return;
    if (Date.now() >= accountUntil) break;
    await pause(100);
  }
  throw new Error(
    `namespace ${name} has no default ServiceAccount after ${serviceAccountWaitMs} ms: the controller-manager does not act`,
  );
}

export interface RoleRule {
  apiGroups?: string[];
  resources: string[];
  verbs: string[];
}

/**
 * Creates a ServiceAccount bound to a Role with exactly `rules` in `namespace`
 * and returns a kubeconfig file that authenticates as it with a bound token.
 */
export async function serviceAccountKubeconfig(
  namespace: string,
  name: string,
  rules: RoleRule[],
): Promise<string> {
  const kc = adminKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await ensureNamespace(namespace);
  await core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    .catch(ignoreConflict);
  await rbac
    .createNamespacedRole({
      namespace,
      body: {
        metadata: { name },
        rules: rules.map((r) => ({
          apiGroups: r.apiGroups ?? [''],
          resources: r.resources,
          verbs: r.verbs,
        })),
      },
    })
    .catch(ignoreConflict);
  await rbac
    .createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    })
    .catch(ignoreConflict);
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('admin kubeconfig has no cluster');
  const caData = cluster.caData ?? '';
  const dir = mkdtempSync(join(tmpdir(), 'kubecache-sa-'));
  const file = join(dir, `${namespace}-${name}.kubeconfig`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'dev', cluster: { server: cluster.server, 'certificate-authority-data': caData } },
      ],
      users: [{ name, user: { token: token.status?.token } }],
      contexts: [{ name, context: { cluster: 'dev', user: name, namespace } }],
      'current-context': name,
    }),
    { mode: 0o600 },
  );
  return file;
}

function ignoreConflict(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err;
}

export async function deleteNamespace(name: string): Promise<void> {
  await adminCore()
    .deleteNamespace({ name })
    .catch(() => undefined);
}
