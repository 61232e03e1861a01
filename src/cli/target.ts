import { existsSync } from 'node:fs';
import { defaultKubeconfigPath, readKubeEnv } from '../config/env.js';
import {
  type KubecacheOptions,
  type ResolvedClusterConfig,
  resolveClusterConfig,
  validateKubecacheOptions,
} from '../config/options.js';
import { namespaceNotFound } from '../kube/api-error.js';
import { connectKube, type KubeHandle, kubeTargetOf } from '../kube/client.js';
import { namespaceExists } from '../kube/pods.js';
import { type LoadedConfig, loadRunnerConfig } from '../runner/config-file.js';

/** The flags every command takes. */
export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  json?: boolean;
}

export const FLAGS_SOURCE = 'command-line flags';

/**
 * Pure: the cluster settings for a command. The layers are the runners' own
 * (kubecache.config.* file, then KUBECACHE_* variables, see resolveClusterConfig),
 * with the command-line flags on top: what someone types wins over what is
 * configured, as with kubectl.
 */
export function resolveCliCluster(
  options: KubecacheOptions,
  flags: GlobalFlags,
  env: NodeJS.ProcessEnv,
): ResolvedClusterConfig {
  const cluster = resolveClusterConfig({ global: options, env });
  const fromFlags = validateKubecacheOptions(
    {
      ...(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {}),
      ...(flags.context !== undefined ? { context: flags.context } : {}),
      ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
    },
    FLAGS_SOURCE,
  );
  if (fromFlags.kubeconfig !== undefined) cluster.kubeconfig = fromFlags.kubeconfig;
  if (fromFlags.context !== undefined) cluster.context = fromFlags.context;
  if (fromFlags.namespace !== undefined) {
    cluster.namespace = fromFlags.namespace;
    cluster.namespaceSource = 'flag';
  }
  return cluster;
}

/** The cluster to connect to, as the runner's broker would (kube/client.ts). */
export const kubeTarget = kubeTargetOf;

/** Which kubeconfig client-node will read, in words, for doctor. */
export function describeKubeconfigSource(
  cluster: ResolvedClusterConfig,
  flags: GlobalFlags,
  env: NodeJS.ProcessEnv,
): string {
  if (flags.kubeconfig !== undefined) return `${flags.kubeconfig} (--kubeconfig)`;
  if (cluster.kubeconfig !== undefined)
    return `${cluster.kubeconfig} (KUBECACHE_KUBECONFIG or the kubeconfig option)`;
  const kubeEnv = readKubeEnv(env);
  if (kubeEnv.kubeconfig !== undefined) return `${kubeEnv.kubeconfig} (KUBECONFIG)`;
  const home = defaultKubeconfigPath(kubeEnv);
  if (existsSync(home)) return `${home} (default location)`;
  if (kubeEnv.inCluster) return "this pod's service account (in-cluster)";
  return 'none found';
}

export interface CliContext {
  flags: GlobalFlags;
  config: LoadedConfig;
  cluster: ResolvedClusterConfig;
  /** The command's environment: its KUBECONFIG is the one to read. */
  env: NodeJS.ProcessEnv;
}

/** Reads kubecache.config.* from the working directory like a runner would, then applies flags. */
export async function loadCliContext(
  flags: GlobalFlags,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<CliContext> {
  const config = await loadRunnerConfig({ root: cwd, env });
  return { flags, config, cluster: resolveCliCluster(config.options, flags, env), env };
}

export function connect(ctx: CliContext): Promise<KubeHandle> {
  return connectKube({ ...kubeTargetOf(ctx.cluster), env: ctx.env });
}

/**
 * Throws NAMESPACE_NOT_FOUND for a namespace the API server does not have.
 * Listing in one answers an empty 200, so without this `ls` and `reap`
 * reported a mistyped --namespace as "nothing here".
 */
export async function requireNamespace(handle: KubeHandle): Promise<void> {
  if ((await namespaceExists(handle)) === false) {
    throw namespaceNotFound(
      handle.namespace,
      `the API server has no namespace "${handle.namespace}"`,
      undefined,
      handle.namespaceOrigin,
    );
  }
}
