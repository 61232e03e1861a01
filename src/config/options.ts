import { engines, isEngineName } from '../engines/registry.js';
import { ENGINE_NAMES, type EngineName } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import { ENV_PREFIX, engineEnvPrefix, isCI, readCacheEnv, readClusterEnv } from './env.js';
import {
  badOption,
  CACHE_OPTION_KEYS,
  checkKeys,
  expectObject,
  GLOBAL_ONLY_KEYS,
  type Origin,
  optionOrigin,
  quantityValue,
  show,
  vCacheOptions,
  vNamespace,
  vPositiveInt,
  vPrestart,
} from './validate.js';

export type EndpointMode = 'auto' | 'pod-ip' | 'port-forward';

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface ResourceQuantities {
  cpu?: string;
  memory?: string;
}

export interface ResourceOptions {
  requests?: ResourceQuantities;
  limits?: ResourceQuantities;
}

export interface Timeouts {
  /** Pod creation until phase Running. */
  podRunningMs: number;
  /** Running until the protocol probe succeeds. */
  probeMs: number;
  /** One probe attempt. */
  probeAttemptMs: number;
  /** Deciding whether the pod IP is reachable from this machine (endpoint "auto"). */
  reachabilityProbeMs: number;
  /** Teardown until every delete went through (retried while the API server is away). */
  deleteMs: number;
  execMs: number;
  apiConnectMs: number;
  /** How long a pod's lease lasts before a sweeper may delete it. */
  leaseMs: number;
  /** How often the owner extends the lease; must be below leaseMs. */
  leaseRenewMs: number;
  /** One attempt of one Kubernetes API request (client-node has no timeout of its own). */
  apiCallMs: number;
  /** All attempts of one API request together, retries and back-off included. */
  apiRetryMs: number;
}

export interface CacheOptions {
  image?: string;
  args?: string[];
  resources?: ResourceOptions;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  imagePullSecrets?: string[];
  endpoint?: EndpointMode;
  timeouts?: Partial<Timeouts>;
  /**
   * Which user the cache container runs as. Default: uid/gid/fsGroup 999,
   * the official images' user. "platform" pins nothing, so a platform that
   * assigns UIDs (OpenShift's restricted-v2) picks one; a number runs as that
   * UID with group 0, the way such platforms run images.
   */
  uid?: PodUid;
  /**
   * The highest RDB version the image's server loads, when the user knows it
   * better than kubecache (an RDB fixture above it is refused before any pod
   * starts). Without it kubecache learns the server's version from the image's
   * first pod.
   */
  maxRdbVersion?: number;
  /**
   * Locks the cache: redis/Valkey get a per-pod password and an ACL, memcached
   * SASL. Default: on for redis, off for memcached. `false` leaves it open.
   */
  auth?: boolean;
  /**
   * What the test client may run when auth is on (redis/Valkey): `app` allows
   * every data command including FLUSHALL; `restricted` also forbids
   * FLUSHALL, FLUSHDB, SWAPDB. Admin commands are never allowed.
   */
  acl?: AclProfile;
  /** TLS with a per-run CA (redis/Valkey). */
  tls?: boolean;
  /** A NetworkPolicy owned by the cache pod that admits only the runner (or the namespace). */
  networkPolicy?: boolean;
}

export type AclProfile = 'app' | 'restricted';

/** See CacheOptions.uid. */
export type PodUid = 'platform' | number;

export interface KubecacheOptions extends CacheOptions {
  namespace?: string;
  context?: string;
  kubeconfig?: string;
  /** Hard upper bound on a cache pod's life, enforced by the kubelet even if kubecache dies. */
  activeDeadlineSeconds?: number;
  engines?: { [E in EngineName]?: CacheOptions };
  /**
   * Pods to start in global setup, before any worker asks: per engine a
   * count or 'workers' (one per test worker). `false` turns it off; unset,
   * kubecache starts what the previous run of the project used.
   */
  prestart?: PrestartOption | false;
  /** Keep pods after the run and hand them to the next run (after a reset to the seed). */
  reuse?: boolean;
  /** How long a kept pod waits for the next run before any run or `kubecache reap` deletes it. */
  reuseIdleSeconds?: number;
  /**
   * With `reuse`: keep the broker running between runs (a background process
   * that holds the kept pods for reuseIdleSeconds), so a run neither loads the
   * Kubernetes client nor claims and parks pods. Default: on, except in CI.
   */
  daemon?: boolean;
}

export type PrestartCount = number | 'workers';
export type PrestartOption = Partial<Record<EngineName, PrestartCount>>;

export interface ResolvedResources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

/** Fully defaulted, plain JSON data: safe to hash, log and send to workers. */
export interface ResolvedCacheConfig {
  engine: EngineName;
  image: string;
  args: string[];
  resources: ResolvedResources;
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  annotations: Record<string, string>;
  labels: Record<string, string>;
  imagePullSecrets: string[];
  endpoint: EndpointMode;
  timeouts: Timeouts;
  /** Absent: the default user (999). */
  uid?: PodUid;
  maxRdbVersion?: number;
  auth: boolean;
  acl: AclProfile;
  tls: boolean;
  networkPolicy: boolean;
}

export interface ResolvedClusterConfig {
  namespace: string;
  /**
   * Where `namespace` came from. With 'default' the I/O layer may prefer the
   * kubeconfig context's namespace, which the pure layer cannot see.
   */
  namespaceSource: 'default' | 'options' | 'env' | 'flag';
  context?: string;
  kubeconfig?: string;
  activeDeadlineSeconds: number;
  timeouts: Timeouts;
  /** undefined: use the previous run's record; false: off. */
  prestart?: PrestartOption | false;
  reuse: boolean;
  reuseIdleSeconds: number;
  /** Only with reuse: a daemon holds the kept pods between runs (src/daemon). */
  daemon: boolean;
}

export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  podRunningMs: 60_000,
  probeMs: 15_000,
  probeAttemptMs: 500,
  reachabilityProbeMs: 400,
  deleteMs: 30_000,
  execMs: 30_000,
  apiConnectMs: 5_000,
  leaseMs: 60_000,
  leaseRenewMs: 15_000,
  apiCallMs: 10_000,
  apiRetryMs: 30_000,
});

export const DEFAULT_RESOURCES: Readonly<ResolvedResources> = Object.freeze({
  requests: Object.freeze({ cpu: '50m', memory: '32Mi' }),
  limits: Object.freeze({ cpu: '500m', memory: '256Mi' }),
});

export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_ACTIVE_DEADLINE_SECONDS = 3600;
export const DEFAULT_ENDPOINT: EndpointMode = 'auto';
export const DEFAULT_REUSE_IDLE_SECONDS = 1800;

const GLOBAL_SOURCE = 'global kubecache options';
const CALL_SOURCE = 'per-call options';

/** Validates the top-level options object; throws BAD_OPTION naming the offending path. */
export function validateKubecacheOptions(
  value: unknown,
  source: string = GLOBAL_SOURCE,
): KubecacheOptions {
  if (value === undefined) return {};
  const origin = optionOrigin('', source);
  const obj = expectObject(origin, '', value, 'kubecache options');
  // `seeds` is split off by the config loader before this runs; listing it
  // here makes a "seed" typo suggest it.
  const out: KubecacheOptions = vCacheOptions(origin, '', obj, [...GLOBAL_ONLY_KEYS, 'seeds']);
  if (obj.namespace !== undefined) out.namespace = vNamespace(origin, 'namespace', obj.namespace);
  for (const key of ['context', 'kubeconfig'] as const) {
    const raw = obj[key];
    if (raw === undefined) continue;
    if (typeof raw !== 'string' || raw.trim() === '') {
      throw badOption(origin, key, raw, 'a non-empty string');
    }
    out[key] = raw;
  }
  if (obj.activeDeadlineSeconds !== undefined) {
    out.activeDeadlineSeconds = vPositiveInt(
      origin,
      'activeDeadlineSeconds',
      obj.activeDeadlineSeconds,
      'seconds',
    );
  }
  if (obj.prestart !== undefined) out.prestart = vPrestart(origin, 'prestart', obj.prestart);
  if (obj.reuse !== undefined) {
    if (typeof obj.reuse !== 'boolean')
      throw badOption(origin, 'reuse', obj.reuse, 'true or false');
    out.reuse = obj.reuse;
  }
  if (obj.daemon !== undefined) {
    if (typeof obj.daemon !== 'boolean')
      throw badOption(origin, 'daemon', obj.daemon, 'true or false');
    out.daemon = obj.daemon;
  }
  if (obj.reuseIdleSeconds !== undefined) {
    out.reuseIdleSeconds = vPositiveInt(
      origin,
      'reuseIdleSeconds',
      obj.reuseIdleSeconds,
      'seconds',
    );
  }
  if (obj.engines !== undefined) {
    const enginesObj = expectObject(
      origin,
      'engines',
      obj.engines,
      `keys ${ENGINE_NAMES.map((n) => `"${n}"`).join(', ')}`,
    );
    checkKeys(origin, 'engines', enginesObj, ENGINE_NAMES);
    out.engines = {};
    for (const name of ENGINE_NAMES) {
      const raw = enginesObj[name];
      if (raw === undefined) continue;
      out.engines[name] = vCacheOptions(origin, `engines.${name}`, raw, [], GLOBAL_ONLY_KEYS);
    }
  }
  return out;
}

/** Validates options given for a single cache; cluster-wide keys are rejected with a hint. */
export function validateCacheOptions(value: unknown, source: string = CALL_SOURCE): CacheOptions {
  if (value === undefined) return {};
  return vCacheOptions(optionOrigin('', source), '', value, [], GLOBAL_ONLY_KEYS);
}

export interface ResolveCacheInput {
  global?: KubecacheOptions;
  call?: CacheOptions;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

interface Layer {
  options: CacheOptions;
  origin: Origin;
  /** Added to option paths so messages name e.g. engines.redis.image. */
  prefix: string;
}

interface Provenance {
  origin: Origin;
  path: string;
}

const DEFAULTS_ORIGIN: Origin = {
  field: (path) => path,
  describe: (path) => `built-in default for ${path}`,
};

/**
 * Merges every configuration layer for one engine. Lowest to highest:
 * built-in defaults, global options, global `engines.<engine>` options,
 * KUBECACHE_* env, KUBECACHE_<ENGINE>_* env, per-call options. Maps merge
 * per key with the higher layer winning; arrays are replaced wholesale
 * because merging e.g. two toleration lists has no obvious right answer.
 *
 * The options object usually comes from a checked-in config file, so env
 * sits above all of it: CI can override any setting without editing files.
 * Per-call options are the test author's explicit choice and win over all.
 */
export function resolveCacheConfig(
  engine: EngineName,
  input: ResolveCacheInput = {},
): ResolvedCacheConfig {
  if (!isEngineName(engine)) {
    throw new KubecacheError(
      'BAD_OPTION',
      `Unknown cache engine ${show(engine)}. Accepted values: ${ENGINE_NAMES.map((n) => `"${n}"`).join(', ')}.`,
      { field: 'engine', value: engine, expected: ENGINE_NAMES },
    );
  }
  const definition = engines[engine];
  const env = input.env ?? process.env;
  const global = validateKubecacheOptions(input.global);
  const globalCache: CacheOptions = {};
  for (const key of CACHE_OPTION_KEYS) {
    if (global[key] !== undefined) Object.assign(globalCache, { [key]: global[key] });
  }
  const globalOrigin = optionOrigin('', GLOBAL_SOURCE);
  const globalEnv = readCacheEnv(env, ENV_PREFIX);
  const engineEnv = readCacheEnv(env, engineEnvPrefix(engine));
  const layers: Layer[] = [
    { options: globalCache, origin: globalOrigin, prefix: '' },
    { options: global.engines?.[engine] ?? {}, origin: globalOrigin, prefix: `engines.${engine}.` },
    { options: globalEnv.options, origin: globalEnv.origin, prefix: '' },
    { options: engineEnv.options, origin: engineEnv.origin, prefix: '' },
    {
      options: validateCacheOptions(input.call),
      origin: optionOrigin('', CALL_SOURCE),
      prefix: '',
    },
  ];

  const provenance = new Map<string, Provenance>();
  const setFrom = (layer: Layer | undefined, path: string) =>
    provenance.set(path, {
      origin: layer?.origin ?? DEFAULTS_ORIGIN,
      path: `${layer?.prefix ?? ''}${path}`,
    });

  const out: ResolvedCacheConfig = {
    engine,
    image: definition.defaultImage,
    args: [],
    resources: {
      requests: { ...DEFAULT_RESOURCES.requests },
      limits: { ...DEFAULT_RESOURCES.limits },
    },
    nodeSelector: {},
    tolerations: [],
    annotations: {},
    labels: {},
    imagePullSecrets: [],
    endpoint: DEFAULT_ENDPOINT,
    timeouts: { ...DEFAULT_TIMEOUTS },
    // Locked by default where that is free (EngineSecurity.authByDefault).
    auth: definition.security.authByDefault,
    acl: 'app',
    tls: false,
    networkPolicy: false,
  };
  for (const side of ['requests', 'limits'] as const) {
    for (const kind of ['cpu', 'memory'] as const) setFrom(undefined, `resources.${side}.${kind}`);
  }
  for (const key of Object.keys(DEFAULT_TIMEOUTS)) setFrom(undefined, `timeouts.${key}`);

  for (const layer of layers) {
    const o = layer.options;
    if (o.image !== undefined) out.image = o.image;
    if (o.args !== undefined) out.args = [...o.args];
    if (o.endpoint !== undefined) out.endpoint = o.endpoint;
    if (o.uid !== undefined) out.uid = o.uid;
    if (o.maxRdbVersion !== undefined) out.maxRdbVersion = o.maxRdbVersion;
    if (o.auth !== undefined) out.auth = o.auth;
    if (o.acl !== undefined) out.acl = o.acl;
    if (o.tls !== undefined) out.tls = o.tls;
    if (o.networkPolicy !== undefined) out.networkPolicy = o.networkPolicy;
    if (o.tolerations !== undefined) out.tolerations = o.tolerations.map((t) => ({ ...t }));
    if (o.imagePullSecrets !== undefined) out.imagePullSecrets = [...o.imagePullSecrets];
    if (o.nodeSelector !== undefined) Object.assign(out.nodeSelector, o.nodeSelector);
    if (o.annotations !== undefined) Object.assign(out.annotations, o.annotations);
    if (o.labels !== undefined) Object.assign(out.labels, o.labels);
    for (const side of ['requests', 'limits'] as const) {
      for (const kind of ['cpu', 'memory'] as const) {
        const value = o.resources?.[side]?.[kind];
        if (value === undefined) continue;
        out.resources[side][kind] = value;
        setFrom(layer, `resources.${side}.${kind}`);
      }
    }
    for (const [key, value] of Object.entries(o.timeouts ?? {}) as [keyof Timeouts, number][]) {
      out.timeouts[key] = value;
      setFrom(layer, `timeouts.${key}`);
    }
  }

  checkRequestsWithinLimits(out.resources, provenance);
  checkLease(out.timeouts, provenance);
  return out;
}

export interface ResolveClusterInput {
  global?: KubecacheOptions;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Cluster-wide settings. Environment variables override the options object. */
export function resolveClusterConfig(input: ResolveClusterInput = {}): ResolvedClusterConfig {
  const env = input.env ?? process.env;
  const global = validateKubecacheOptions(input.global);
  const fromEnv = readClusterEnv(env);
  const globalOrigin = optionOrigin('', GLOBAL_SOURCE);

  const out: ResolvedClusterConfig = {
    namespace: DEFAULT_NAMESPACE,
    namespaceSource: 'default',
    activeDeadlineSeconds: DEFAULT_ACTIVE_DEADLINE_SECONDS,
    timeouts: { ...DEFAULT_TIMEOUTS },
    reuse: false,
    reuseIdleSeconds: DEFAULT_REUSE_IDLE_SECONDS,
    daemon: false,
  };
  if (global.namespace !== undefined) {
    out.namespace = global.namespace;
    out.namespaceSource = 'options';
  }
  if (fromEnv.namespace !== undefined) {
    out.namespace = fromEnv.namespace;
    out.namespaceSource = 'env';
  }
  const context = fromEnv.context ?? global.context;
  if (context !== undefined) out.context = context;
  const kubeconfig = fromEnv.kubeconfig ?? global.kubeconfig;
  if (kubeconfig !== undefined) out.kubeconfig = kubeconfig;
  out.activeDeadlineSeconds =
    fromEnv.activeDeadlineSeconds ?? global.activeDeadlineSeconds ?? out.activeDeadlineSeconds;
  if (global.prestart !== undefined) out.prestart = global.prestart;
  out.reuse = fromEnv.reuse ?? global.reuse ?? false;
  out.reuseIdleSeconds =
    fromEnv.reuseIdleSeconds ?? global.reuseIdleSeconds ?? DEFAULT_REUSE_IDLE_SECONDS;
  // A CI job's machine is gone after the job: a broker left waiting for the
  // next run would only hold its pods (and could hold up the job's end).
  out.daemon = out.reuse && (fromEnv.daemon ?? global.daemon ?? !isCI(env));

  const provenance = new Map<string, Provenance>();
  for (const key of Object.keys(DEFAULT_TIMEOUTS)) {
    provenance.set(`timeouts.${key}`, { origin: DEFAULTS_ORIGIN, path: `timeouts.${key}` });
  }
  for (const [layer, origin] of [
    [global.timeouts, globalOrigin],
    [fromEnv.timeouts, fromEnv.timeoutsOrigin],
  ] as const) {
    for (const [key, value] of Object.entries(layer ?? {}) as [keyof Timeouts, number][]) {
      out.timeouts[key] = value;
      provenance.set(`timeouts.${key}`, { origin, path: `timeouts.${key}` });
    }
  }
  checkLease(out.timeouts, provenance);
  return out;
}

function describeSource(provenance: Map<string, Provenance>, path: string): string {
  const p = provenance.get(path);
  return p ? p.origin.describe(p.path) : path;
}

function fieldOf(provenance: Map<string, Provenance>, path: string): string {
  const p = provenance.get(path);
  return p ? p.origin.field(p.path) : path;
}

function checkRequestsWithinLimits(
  resources: ResolvedResources,
  provenance: Map<string, Provenance>,
): void {
  for (const kind of ['cpu', 'memory'] as const) {
    const request = resources.requests[kind];
    const limit = resources.limits[kind];
    if (quantityValue(request) <= quantityValue(limit)) continue;
    const requestPath = `resources.requests.${kind}`;
    const limitPath = `resources.limits.${kind}`;
    const upper = kind.toUpperCase();
    throw new KubecacheError(
      'BAD_OPTION',
      `The ${kind} request ${request} (${describeSource(provenance, requestPath)}) is above the ` +
        `${kind} limit ${limit} (${describeSource(provenance, limitPath)}), which Kubernetes ` +
        `rejects. Raise ${limitPath} (or ${ENV_PREFIX}${upper}_LIMIT) or lower the request.`,
      {
        field: fieldOf(provenance, requestPath),
        value: request,
        limitField: fieldOf(provenance, limitPath),
        limit,
        expected: `a ${kind} request no larger than the ${kind} limit`,
      },
    );
  }
}

function checkLease(timeouts: Timeouts, provenance: Map<string, Provenance>): void {
  if (timeouts.leaseRenewMs < timeouts.leaseMs) return;
  throw new KubecacheError(
    'BAD_OPTION',
    `timeouts.leaseRenewMs ${timeouts.leaseRenewMs} (${describeSource(provenance, 'timeouts.leaseRenewMs')}) ` +
      `must be below timeouts.leaseMs ${timeouts.leaseMs} (${describeSource(provenance, 'timeouts.leaseMs')}), ` +
      'or leases expire before they are renewed and live caches get swept. ' +
      'A renew interval of a quarter of the lease is a good choice.',
    {
      field: fieldOf(provenance, 'timeouts.leaseRenewMs'),
      value: timeouts.leaseRenewMs,
      leaseMs: timeouts.leaseMs,
      expected: 'leaseRenewMs < leaseMs',
    },
  );
}
