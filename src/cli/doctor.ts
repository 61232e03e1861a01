import { hostname } from 'node:os';
import { Command } from 'commander';
import { Seeder } from '../broker/seeding.js';
import { engineEnvPrefix } from '../config/env.js';
import { type ResolvedCacheConfig, resolveCacheConfig } from '../config/options.js';
import { engines } from '../engines/registry.js';
import { ENGINE_NAMES, type EngineName } from '../engines/types.js';
import { forbiddenError, isKubecacheError } from '../errors.js';
import { type AccessVerdict, reviewAccess } from '../kube/access-review.js';
import { type KubeHandle, loadKubeConfig } from '../kube/client.js';
import { buildCachePod } from '../kube/pod-spec.js';
import { deletePod, namespaceExists } from '../kube/pods.js';
import { describeAccess, requiredAccess } from '../kube/rbac-rules.js';
import { PodNetworkReachability } from '../kube/reachability.js';
import { type StartedCachePod, startCachePod } from '../kube/start-cache-pod.js';
import { newRunId } from '../names.js';
import { EXIT } from './exit-codes.js';
import { type CliIO, globalFlags, printJson } from './io.js';
import { type CheckResult, countBy, formatCheck } from './output.js';
import { type CliContext, connect, describeKubeconfigSource, loadCliContext } from './target.js';

/** What each permission is for, and whether kubecache works at all without it. */
function accessImpact(v: AccessVerdict): { status: 'warn' | 'fail'; without: string } {
  const sub = v.subresource;
  if (v.resource === 'pods' && sub === 'exec') {
    return {
      status: 'warn',
      without:
        'caches start slower (no early pod IP) and RDB seeding needs pods that reach this machine',
    };
  }
  if (v.resource === 'pods' && sub === 'portforward') {
    return {
      status: 'warn',
      without: 'caches are unreachable when pod IPs are not routed to this machine',
    };
  }
  if (v.resource === 'pods' && sub === 'log')
    return { status: 'warn', without: 'failure reports lack log lines' };
  if (v.resource === 'networkpolicies') {
    return { status: 'warn', without: 'the networkPolicy option cannot be used' };
  }
  if (v.resource === 'events')
    return { status: 'warn', without: 'failure reports lack events and starts are slower' };
  return { status: 'fail', without: 'kubecache cannot run' };
}

/** Pure: one check line per permission. */
export function accessChecks(verdicts: readonly AccessVerdict[], namespace: string): CheckResult[] {
  return verdicts.map((v) => {
    const name = `rbac ${describeAccess(v)}`;
    if (v.allowed) return { name, status: 'ok', summary: 'allowed' };
    const impact = accessImpact(v);
    const streaming =
      v.resource === 'pods' && (v.subresource === 'exec' || v.subresource === 'portforward');
    return {
      name,
      status: impact.status,
      summary: `denied in namespace ${namespace}${streaming ? ' (Kubernetes 1.35+ checks create, older versions get)' : ''}; without it ${impact.without}`,
      next: forbiddenError(v.verb, v.resource, namespace, v.subresource).message.replace(
        /^Kubernetes denied [^.]*\. /,
        '',
      ),
    };
  });
}

function allowed(
  verdicts: readonly AccessVerdict[],
  resource: string,
  verb: string,
  sub?: string,
): boolean {
  return verdicts.some(
    (v) => v.resource === resource && v.verb === verb && v.subresource === sub && v.allowed,
  );
}

interface Probe {
  engine: EngineName;
  config: ResolvedCacheConfig;
  started?: StartedCachePod;
  error?: unknown;
}

/**
 * Starts one real cache pod per engine with the configured image, pull
 * secrets, node selector and resources: the pod a run would create, so an
 * image the nodes cannot pull, a registry secret that is missing or a node
 * selector nothing matches all show up here. Listing node images instead
 * would need cluster-wide rights and says nothing about pull secrets.
 */
async function startProbes(
  handle: KubeHandle,
  ctx: CliContext,
  env: NodeJS.ProcessEnv,
  reachability: PodNetworkReachability,
): Promise<Probe[]> {
  const runId = newRunId();
  return Promise.all(
    ENGINE_NAMES.map(async (name): Promise<Probe> => {
      const config = resolveCacheConfig(name, { global: ctx.config.options, env });
      const engine = engines[name];
      const probe: Probe = { engine: name, config };
      try {
        const pod = buildCachePod({
          engine,
          config,
          namespace: handle.namespace,
          runId,
          worker: 'doctor',
          instance: name,
          leaseExpiresAt: new Date(handle.clock.now() + config.timeouts.leaseMs),
          host: hostname(),
          pid: process.pid,
          // A doctor killed midway must not leave pods for long.
          activeDeadlineSeconds:
            Math.ceil((config.timeouts.podRunningMs + config.timeouts.probeMs) / 1000) + 60,
        });
        probe.started = await startCachePod({
          handle,
          engine,
          pod,
          endpoint: 'auto',
          timeouts: config.timeouts,
          reachability,
          label: `doctor ${name}`,
          progress: () => {},
        });
      } catch (err) {
        probe.error = err;
      }
      return probe;
    }),
  );
}

function imageCheck(p: Probe): CheckResult {
  const name = `image ${p.engine}`;
  if (p.started) {
    return {
      name,
      status: 'ok',
      summary: `${p.config.image} pulled and answering in ${p.started.timings.ready} ms (pod ${p.started.name})`,
    };
  }
  const err = p.error;
  const message = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
  const pull = isKubecacheError(err, 'IMAGE_PULL');
  const noNamespace = /namespaces? "([^"]+)" not found/.exec(message);
  if (noNamespace) {
    return {
      name,
      status: 'fail',
      summary: `namespace ${noNamespace[1]} does not exist, so no cache pod can start`,
      next: `Create it (kubectl create namespace ${noNamespace[1]}) or pass --namespace with an existing one.`,
    };
  }
  return {
    name,
    status: 'fail',
    summary: `${p.config.image}: ${message}`,
    next: pull
      ? `Check that the nodes can pull ${p.config.image} (registry reachable, name and tag right); for a private registry set imagePullSecrets, or point image (${engineEnvPrefix(p.engine)}IMAGE) at a mirror.`
      : 'The message above says what stopped the pod; fix it in the kubecache config (nodeSelector, tolerations, resources, image) and rerun.',
  };
}

function endpointCheck(
  reachability: PodNetworkReachability,
  probe: Probe,
  verdicts: readonly AccessVerdict[],
): CheckResult {
  const started = probe.started as StartedCachePod;
  const configured = probe.config.endpoint;
  const ms = probe.config.timeouts.reachabilityProbeMs;
  const target = `${started.podIP}:${engines[probe.engine].port}`;
  if (reachability.known) {
    return {
      name: 'endpoint',
      status: 'ok',
      summary: `auto picks pod-ip: pod IP ${target} answered from this machine within ${ms} ms${configured === 'auto' ? '' : ` (configured: ${configured})`}`,
    };
  }
  const why = `pod IP ${target} did not answer from this machine within ${ms} ms (usual outside the cluster network)`;
  if (configured === 'pod-ip') {
    return {
      name: 'endpoint',
      status: 'fail',
      summary: `endpoint is set to pod-ip, but ${why}`,
      next: 'Set endpoint to auto or port-forward, or run the tests where pod IPs are routed (inside the cluster).',
    };
  }
  const canForward =
    allowed(verdicts, 'pods', 'create', 'portforward') ||
    allowed(verdicts, 'pods', 'get', 'portforward');
  return {
    name: 'endpoint',
    status: canForward ? 'ok' : 'fail',
    summary: `auto picks port-forward: ${why}`,
    ...(canForward
      ? {}
      : { next: 'Grant pods/portforward (create and get), or run the tests inside the cluster.' }),
  };
}

async function seedRouteCheck(
  handle: KubeHandle,
  probe: Probe,
  env: NodeJS.ProcessEnv,
  verdicts: readonly AccessVerdict[],
): Promise<CheckResult> {
  const name = 'seed route';
  const canExec =
    allowed(verdicts, 'pods', 'create', 'exec') || allowed(verdicts, 'pods', 'get', 'exec');
  if (!canExec) {
    return {
      name,
      status: 'warn',
      summary:
        'not tested: the test needs pods/exec to run wget in a pod, and without pods/exec RDB fixtures can only travel over http',
      next: 'Grant pods/exec (create and get) to test the route and to allow the exec fallback.',
    };
  }
  const started = probe.started as StartedCachePod;
  const seeder = new Seeder(handle, env, probe.config.timeouts);
  try {
    const route = await seeder.probeRoute(
      started.name,
      engines[probe.engine].containerName,
      started.podIP,
    );
    if (route.transport === 'exec') {
      return {
        name,
        status: 'warn',
        summary: `auto seeds RDB fixtures by exec (through the API server): ${route.reason ?? ''}`,
        next: 'Fine for small fixtures; for large ones set KUBECACHE_ADVERTISE_URL to an address of this machine that pods reach.',
      };
    }
    if (route.reachable) {
      return {
        name,
        status: 'ok',
        summary: `a pod downloaded from this machine at ${route.url}: auto seeds RDB fixtures over http`,
      };
    }
    return {
      name,
      status: 'warn',
      summary: `a pod could not download from ${route.url}: ${route.reason ?? ''}; auto tries http, then falls back to exec for each seeded pod`,
      next: 'Set KUBECACHE_ADVERTISE_URL to an address of this machine that pods reach (and allow it in firewalls), or set KUBECACHE_SEED_TRANSPORT=exec.',
    };
  } catch (err) {
    return {
      name,
      status: 'warn',
      summary: `could not be tested: ${(err as Error).message.split('\n')[0]}`,
      next: 'Rerun; if it persists, set KUBECACHE_SEED_TRANSPORT=exec.',
    };
  } finally {
    await seeder.close();
  }
}

export interface DoctorOptions {
  /** Start probe pods (images, endpoint, seed route); off with --no-pods. */
  pods: boolean;
}

/** Runs every check, reporting each as soon as it is known. */
export async function runDoctor(
  io: CliIO,
  flags: ReturnType<typeof globalFlags>,
  opts: DoctorOptions,
  report: (c: CheckResult) => void,
): Promise<void> {
  let ctx: CliContext;
  try {
    ctx = await loadCliContext(flags, io.cwd, io.env);
    report({
      name: 'config',
      status: 'ok',
      summary: ctx.config.file
        ? `read ${ctx.config.file}`
        : 'no kubecache.config.* here; defaults and KUBECACHE_* variables apply',
    });
  } catch (err) {
    report({
      name: 'config',
      status: 'fail',
      summary: (err as Error).message,
      next: 'Fix the option named above and rerun.',
    });
    return;
  }
  const source = describeKubeconfigSource(ctx.cluster, flags, io.env);
  try {
    const { kc } = loadKubeConfig(
      { kubeconfig: ctx.cluster.kubeconfig, context: ctx.cluster.context },
      io.env,
    );
    report({
      name: 'kubeconfig',
      status: 'ok',
      summary: `${source}, context ${kc.getCurrentContext()}, server ${kc.getCurrentCluster()?.server ?? '(none)'}`,
    });
  } catch (err) {
    report({
      name: 'kubeconfig',
      status: 'fail',
      summary: `${source}: ${(err as Error).message}`,
      next: 'Pass --kubeconfig and --context, or set KUBECONFIG.',
    });
    return;
  }
  let handle: KubeHandle;
  const t0 = Date.now();
  try {
    handle = await connect(ctx);
    report({
      name: 'api server',
      status: 'ok',
      summary: `${handle.server} answered in ${Date.now() - t0} ms; namespace ${handle.namespace}${handle.namespaceOrigin ? ` (${handle.namespaceOrigin.said})` : ''}`,
    });
  } catch (err) {
    report({
      name: 'api server',
      status: 'fail',
      summary: (err as Error).message,
      next: 'Start the cluster or fix the kubeconfig, then rerun.',
    });
    return;
  }
  // Before the RBAC lines: in a namespace that does not exist they all say
  // "allowed", and every probe pod below would fail for that one reason.
  const hasNamespace = await namespaceExists(handle).catch(() => undefined);
  if (hasNamespace !== undefined) {
    report(
      hasNamespace
        ? { name: 'namespace', status: 'ok', summary: `${handle.namespace} exists` }
        : {
            name: 'namespace',
            status: 'fail',
            summary: `${handle.namespace} does not exist, so no cache pod can start (kubecache never creates namespaces)`,
            next: `Create it (kubectl create namespace ${handle.namespace}) or ${handle.namespaceOrigin?.change ?? 'pass --namespace with an existing one'}.`,
          },
    );
  }
  let verdicts: AccessVerdict[];
  try {
    verdicts = await reviewAccess(handle, requiredAccess());
    for (const c of accessChecks(verdicts, handle.namespace)) report(c);
  } catch (err) {
    report({
      name: 'rbac',
      status: 'fail',
      summary: (err as Error).message,
      next: 'Check the credentials of this context.',
    });
    return;
  }
  if (hasNamespace === false) return;
  if (!opts.pods) {
    report({
      name: 'pods',
      status: 'warn',
      summary: 'skipped (--no-pods): images, endpoint and seed route not checked',
      next: 'Run without --no-pods to start one probe pod per engine.',
    });
    return;
  }
  const needed: [string, string][] = [
    ['create', ''],
    ['get', ''],
    ['watch', ''],
    ['delete', ''],
  ];
  if (!needed.every(([verb]) => allowed(verdicts, 'pods', verb))) {
    report({
      name: 'pods',
      status: 'fail',
      summary: 'probe pods not started: pods create/get/watch/delete is denied (see above)',
      next: 'Grant the Role in node_modules/kubecache/docs/rbac.md, then rerun.',
    });
    return;
  }
  const reachability = new PodNetworkReachability();
  const probes = await startProbes(handle, ctx, io.env, reachability);
  try {
    for (const p of probes) report(imageCheck(p));
    const first = probes.find((p) => p.started);
    if (first) report(endpointCheck(reachability, first, verdicts));
    // The seed route carries RDB fixtures, so it is tested from a pod of an
    // engine that loads them (the first in registry order that started).
    const seeded = probes.find((p) => engines[p.engine].rdbSeeds && p.started);
    if (seeded) report(await seedRouteCheck(handle, seeded, io.env, verdicts));
  } finally {
    for (const p of probes) {
      await p.started?.forward?.close();
      if (p.started) await deletePod(handle, p.started.name).catch(() => undefined);
    }
  }
}

export function doctorCommand(io: CliIO): Command {
  return new Command('doctor')
    .description(
      'check kubeconfig, context, namespace, RBAC, images, the endpoint "auto" picks and the seed route',
    )
    .option(
      '--no-pods',
      'skip the probe pods (images, endpoint and seed route are then not checked)',
    )
    .action(async (opts: DoctorOptions, cmd: Command) => {
      const flags = globalFlags(cmd);
      const checks: CheckResult[] = [];
      await runDoctor(io, flags, opts, (c) => {
        checks.push(c);
        if (!flags.json) io.out(formatCheck(c));
      });
      const counts = countBy(checks);
      if (flags.json) printJson(io, { ok: counts.fail === 0, counts, checks });
      else io.out(`\n${counts.ok} ok, ${counts.warn} warn, ${counts.fail} fail`);
      io.exitCode = counts.fail > 0 ? EXIT.PROBLEMS : EXIT.OK;
    });
}
