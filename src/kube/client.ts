import { existsSync, readFileSync } from 'node:fs';
import createDebug from 'debug';
import { defaultKubeconfigPath, readKubeEnv } from '../config/env.js';
import type { ResolvedClusterConfig } from '../config/options.js';
import { isKubecacheError, KubecacheError } from '../errors.js';
import { type ApiPolicy, apiCall, DEFAULT_API_POLICY } from './api-call.js';
import { type NamespaceOrigin, type NamespaceSource, namespaceOrigin } from './api-error.js';
import { CoreV1Api, KubeConfig, VersionApi } from './client-node.js';
import { ServerClock } from './server-clock.js';
import { shareDispatchers } from './shared-dispatcher.js';

const debug = createDebug('kubecache:kube');

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface KubeTarget {
  /** Path to a kubeconfig; otherwise KUBECONFIG, ~/.kube/config, then in-cluster config. */
  kubeconfig?: string | undefined;
  context?: string | undefined;
  /** Explicit namespace; otherwise the context's, the in-cluster one, then `default`. */
  namespace?: string | undefined;
  /** Whose KUBECONFIG, HOME and in-cluster variables apply (default: this process's). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Who set an explicit namespace (default: the namespace option), for error messages. */
  namespaceSource?: 'env' | 'options' | 'flag' | undefined;
  /** How long the first API call may take before the cluster counts as unreachable. */
  apiConnectMs: number;
  /** Deadline and retry budget of every later API call. */
  api?: ApiPolicy | undefined;
}

/** Everything the I/O adapters need to talk to one cluster and namespace. */
export interface KubeHandle {
  kc: KubeConfig;
  core: CoreV1Api;
  namespace: string;
  /** How the namespace was chosen, for NAMESPACE_NOT_FOUND's next step. */
  namespaceOrigin?: NamespaceOrigin;
  server: string;
  context: string;
  inCluster: boolean;
  /** Deadline and retries of every API call made through this handle (see api-call.ts). */
  policy: ApiPolicy;
  /** The API server's clock, learned from its answers; leases are judged by it. */
  clock: ServerClock;
}

/**
 * Where a resolved cluster config says to connect: kubeconfig, context and
 * the namespace only when someone chose one (otherwise the kubeconfig
 * context's, then "default"), with who chose it for error messages.
 */
export function kubeTargetOf(cluster: ResolvedClusterConfig): KubeTarget {
  return {
    kubeconfig: cluster.kubeconfig,
    context: cluster.context,
    ...(cluster.namespaceSource === 'default'
      ? {}
      : { namespace: cluster.namespace, namespaceSource: cluster.namespaceSource }),
    apiConnectMs: cluster.timeouts.apiConnectMs,
  };
}

export function loadKubeConfig(
  target: Pick<KubeTarget, 'kubeconfig' | 'context'>,
  env: NodeJS.ProcessEnv = process.env,
): {
  kc: KubeConfig;
  inCluster: boolean;
} {
  const kc = new KubeConfig();
  let inCluster = false;
  if (target.kubeconfig) {
    try {
      kc.loadFromFile(target.kubeconfig);
    } catch (err) {
      const enoent = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new KubecacheError(
        enoent ? 'NO_CLUSTER' : 'BAD_OPTION',
        enoent
          ? `the kubeconfig ${target.kubeconfig} does not exist. Point KUBECACHE_KUBECONFIG or the kubeconfig option at your cluster's kubeconfig file.`
          : `kubeconfig: cannot read ${target.kubeconfig} (${(err as Error).message}). Point KUBECACHE_KUBECONFIG or the kubeconfig option at a readable kubeconfig file.`,
        { field: 'kubeconfig', value: target.kubeconfig },
        { cause: err },
      );
    }
  } else {
    // client-node silently falls back to http://localhost:8080 when it finds
    // nothing; say plainly that no cluster is configured instead.
    const kubeEnv = readKubeEnv(env);
    const home = defaultKubeconfigPath(kubeEnv);
    if (kubeEnv.kubeconfig === undefined && !existsSync(home) && !kubeEnv.inCluster) {
      throw new KubecacheError(
        'NO_CLUSTER',
        'kubecache found no Kubernetes cluster to start caches in: KUBECONFIG is unset, ' +
          `${home} does not exist, and this process is not running in a pod. ` +
          'Point KUBECONFIG (or KUBECACHE_KUBECONFIG, or the kubeconfig option) at the kubeconfig of your cluster; ' +
          'for a local one, kind, k3d and minikube each write ~/.kube/config when they create a cluster.',
        {},
      );
    }
    // KUBECONFIG may list several files; client-node throws a bare ENOENT
    // when one is missing.
    const listed = kubeEnv.kubeconfigFiles;
    const missing = listed.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      throw new KubecacheError(
        'NO_CLUSTER',
        `KUBECONFIG names ${missing.join(', ')}, which does not exist. ` +
          'Fix the path (or unset KUBECONFIG to use ~/.kube/config).',
        { field: 'KUBECONFIG', value: kubeEnv.kubeconfig, missing },
      );
    }
    try {
      // The files of `env`, merged as client-node's loadFromDefault merges
      // those of process.env: a caller's own env (the CLI's, a tool's) must
      // not be swapped for this process's KUBECONFIG.
      const [first, ...more] = listed;
      if (first !== undefined) {
        kc.loadFromFile(first);
        for (const file of more) {
          const next = new KubeConfig();
          next.loadFromFile(file);
          kc.mergeConfig(next);
        }
      } else if (existsSync(home)) {
        kc.loadFromFile(home);
      } else {
        kc.loadFromDefault();
      }
    } catch (err) {
      throw new KubecacheError(
        'BAD_OPTION',
        `kubeconfig: cannot load ${listed.join(', ') || home} (${(err as Error).message}). ` +
          'Check that it is a valid kubeconfig file.',
        { field: 'KUBECONFIG' },
        { cause: err },
      );
    }
    inCluster = kc.getCurrentContext() === 'inClusterContext';
  }
  if (target.context) {
    if (!kc.getContextObject(target.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new KubecacheError(
        'BAD_OPTION',
        `context: "${target.context}" is not in the kubeconfig; known contexts: ${known.join(', ') || '(none)'}.`,
        { field: 'context', value: target.context, accepted: known },
      );
    }
    kc.setCurrentContext(target.context);
  }
  shareDispatchers(kc);
  return { kc, inCluster };
}

function defaultNamespace(
  kc: KubeConfig,
  inCluster: boolean,
): { namespace: string; source: NamespaceSource } {
  const ctx = kc.getContextObject(kc.getCurrentContext());
  if (ctx?.namespace) return { namespace: ctx.namespace, source: 'context' };
  if (inCluster) {
    try {
      return { namespace: readFileSync(SA_NAMESPACE_FILE, 'utf8').trim(), source: 'in-cluster' };
    } catch {
      // Fall through to default: an in-cluster config without the SA mount.
    }
  }
  return { namespace: 'default', source: 'default' };
}

/**
 * Loads the kubeconfig and proves the API server answers within
 * `apiConnectMs`, so a wrong or dead cluster fails fast and names its URL
 * instead of surfacing later as a hung pod creation.
 */
export async function connectKube(target: KubeTarget): Promise<KubeHandle> {
  const { kc, inCluster } = loadKubeConfig(target, target.env);
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new KubecacheError(
      'BAD_OPTION',
      'kubeconfig: the current context has no cluster. Set KUBECONFIG or KUBECACHE_CONTEXT to a context with a cluster.',
      { field: 'context' },
    );
  }
  const server = cluster.server;
  const chosen =
    target.namespace === undefined
      ? defaultNamespace(kc, inCluster)
      : { namespace: target.namespace, source: target.namespaceSource ?? 'options' };
  const { namespace } = chosen;
  const origin = namespaceOrigin(chosen.source, kc.getCurrentContext());
  const version = kc.makeApiClient(VersionApi);
  const clock = new ServerClock();
  const t0 = Date.now();
  try {
    // Retried like any read, but only within apiConnectMs: a wrong or dead
    // cluster must fail fast.
    const info = await apiCall(
      { namespace, policy: { callMs: target.apiConnectMs, retryMs: target.apiConnectMs }, clock },
      { verb: 'get', resource: 'version', namespace },
      (options) => version.getCode(options),
      { idempotent: true },
    );
    debug('connected to %s (%s) in %d ms', server, info.gitVersion, Date.now() - t0);
  } catch (err) {
    const status = isKubecacheError(err) ? err.details.status : undefined;
    // An HTTP answer (even 401/403) means the server is reachable; /version is
    // readable by anyone authenticated, so only transport failures land here
    // as UNREACHABLE.
    if (typeof status === 'number') {
      throw new KubecacheError(
        status === 401 || status === 403 ? 'FORBIDDEN' : 'UNREACHABLE',
        `Kubernetes API server ${server} answered HTTP ${status} to GET /version. Check the credentials of context ${kc.getCurrentContext()}.`,
        { server, status },
        { cause: err },
      );
    }
    if (isKubecacheError(err, 'TIMEOUT')) {
      throw new KubecacheError(
        'UNREACHABLE',
        `Kubernetes API server ${server} did not answer within ${target.apiConnectMs} ms. Check that the cluster is up (kubectl --context ${kc.getCurrentContext()} get nodes) or raise timeouts.apiConnectMs.`,
        { server, timeoutMs: target.apiConnectMs },
      );
    }
    // The call's own message would repeat the code and name a namespace that
    // GET /version does not have; the transport's reason is what tells.
    const reason = isKubecacheError(err) ? err.details.reason : undefined;
    throw new KubecacheError(
      'UNREACHABLE',
      `Kubernetes API server ${server} is unreachable (${typeof reason === 'string' ? reason : (err as Error).message}). ` +
        `Check that the cluster is up (kubectl --context ${kc.getCurrentContext()} get nodes) and that the kubeconfig points at it.`,
      { server },
      { cause: err },
    );
  }
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    namespace,
    namespaceOrigin: origin,
    server,
    context: kc.getCurrentContext(),
    inCluster,
    policy: target.api ?? { ...DEFAULT_API_POLICY },
    clock,
  };
}
