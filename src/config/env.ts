import { homedir } from 'node:os';
import { join } from 'node:path';
import { ENGINE_NAMES, type EngineName } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import type { CacheOptions, Timeouts } from './options.js';
import {
  badOption,
  closest,
  envOrigin,
  type Origin,
  TIMEOUT_KEYS,
  vCacheOptions,
  vNamespace,
  vPositiveInt,
} from './validate.js';

export const ENV_PREFIX = 'KUBECACHE_';

/** `podRunningMs` → `POD_RUNNING`, as in KUBECACHE_TIMEOUT_POD_RUNNING_MS. */
export function timeoutEnvName(key: keyof Timeouts): string {
  return key
    .replace(/Ms$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();
}

/** The per-engine variable prefix, e.g. KUBECACHE_REDIS_. */
export function engineEnvPrefix(engine: EngineName): string {
  return `${ENV_PREFIX}${engine.toUpperCase()}_`;
}

/** CI=true (or any value but empty, 0 and false), as CI systems set it. */
export function isCI(env: NodeJS.ProcessEnv): boolean {
  return readCI(env) !== undefined;
}

/** CI's value when it says "this is a CI job" (see isCI), for messages; undefined otherwise. */
export function readCI(env: NodeJS.ProcessEnv): string | undefined {
  const ci = read(env, 'CI');
  return ci !== undefined && ci !== '0' && ci.toLowerCase() !== 'false' ? ci : undefined;
}

/** KUBECACHE_QUIET=1 (or true): no progress lines. */
export function isQuiet(env: NodeJS.ProcessEnv): boolean {
  const quiet = read(env, `${ENV_PREFIX}QUIET`);
  return quiet === '1' || quiet === 'true';
}

export interface EnvLayer {
  options: CacheOptions;
  origin: Origin;
}

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  // CI systems often export unset variables as empty strings; treat them as absent.
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Reads cache options from variables starting with `prefix`. With the global
 * prefix `args` is skipped: server flags differ between engines, so they are
 * only read from the per-engine variable.
 */
export function readCacheEnv(env: NodeJS.ProcessEnv, prefix: string): EnvLayer {
  const names: Record<string, string> = {};
  const raw: Record<string, unknown> = {};
  const take = (suffix: string, path: string): string | undefined => {
    const name = `${prefix}${suffix}`;
    names[path] = name;
    return read(env, name);
  };
  const origin = envOrigin(names);

  const image = take('IMAGE', 'image');
  if (image !== undefined) raw.image = image;
  if (prefix !== ENV_PREFIX) {
    const args = take('ARGS', 'args');
    if (args !== undefined) raw.args = args.split(/\s+/).filter((a) => a !== '');
  }
  const endpoint = take('ENDPOINT', 'endpoint');
  if (endpoint !== undefined) raw.endpoint = endpoint;
  const uid = take('UID', 'uid');
  if (uid !== undefined) raw.uid = uid;
  const maxRdbVersion = take('MAX_RDB_VERSION', 'maxRdbVersion');
  if (maxRdbVersion !== undefined) raw.maxRdbVersion = maxRdbVersion;
  for (const [suffix, path] of [
    ['AUTH', 'auth'],
    ['ACL', 'acl'],
    ['TLS', 'tls'],
    ['NETWORK_POLICY', 'networkPolicy'],
  ] as const) {
    const value = take(suffix, path);
    if (value !== undefined) raw[path] = value;
  }

  for (const [suffix, path] of [
    ['NODE_SELECTOR', 'nodeSelector'],
    ['ANNOTATIONS', 'annotations'],
    ['LABELS', 'labels'],
  ] as const) {
    const text = take(suffix, path);
    if (text !== undefined) raw[path] = parsePairs(origin, path, text);
  }

  const tolerations = take('TOLERATIONS', 'tolerations');
  if (tolerations !== undefined) {
    try {
      raw.tolerations = JSON.parse(tolerations);
    } catch (err) {
      throw badOption(
        origin,
        'tolerations',
        tolerations,
        'a JSON array such as [{"key":"dedicated","operator":"Equal","value":"ci","effect":"NoSchedule"}]',
        `The JSON did not parse: ${(err as Error).message}.`,
      );
    }
  }

  const secrets = take('IMAGE_PULL_SECRETS', 'imagePullSecrets');
  if (secrets !== undefined) {
    raw.imagePullSecrets = secrets
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  const resources: Record<string, Record<string, string>> = {};
  for (const [suffix, side, kind] of [
    ['CPU_REQUEST', 'requests', 'cpu'],
    ['CPU_LIMIT', 'limits', 'cpu'],
    ['MEMORY_REQUEST', 'requests', 'memory'],
    ['MEMORY_LIMIT', 'limits', 'memory'],
  ] as const) {
    const value = take(suffix, `resources.${side}.${kind}`);
    if (value !== undefined) {
      resources[side] ??= {};
      resources[side][kind] = value;
    }
  }
  if (Object.keys(resources).length > 0) raw.resources = resources;

  const timeouts = readTimeouts(env, prefix, names);
  if (Object.keys(timeouts).length > 0) raw.timeouts = timeouts;

  return { options: vCacheOptions(origin, '', raw), origin };
}

function readTimeouts(
  env: NodeJS.ProcessEnv,
  prefix: string,
  names: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const known = new Map(TIMEOUT_KEYS.map((key) => [timeoutEnvName(key), key]));
  const pattern = new RegExp(`^${prefix}TIMEOUT_(.+)_MS$`);
  for (const name of Object.keys(env).sort()) {
    const match = pattern.exec(name);
    if (!match?.[1]) continue;
    const key = known.get(match[1]);
    if (key === undefined) {
      // This namespace is kubecache's own, so an unknown name is a typo
      // that would otherwise silently keep the default.
      const suggestion = closest(match[1], [...known.keys()]);
      throw new KubecacheError(
        'BAD_OPTION',
        `Unknown environment variable ${name}.` +
          (suggestion ? ` Did you mean ${prefix}TIMEOUT_${suggestion}_MS?` : '') +
          ` Known timeouts: ${[...known.keys()].map((k) => `${prefix}TIMEOUT_${k}_MS`).join(', ')}.`,
        { field: name, suggestion: suggestion && `${prefix}TIMEOUT_${suggestion}_MS` },
      );
    }
    const value = read(env, name);
    if (value === undefined) continue;
    names[`timeouts.${key}`] = name;
    out[key] = value;
  }
  return out;
}

/** Parses `k=v,k2=v2`; values may contain "=" (only the first one splits). */
function parsePairs(origin: Origin, path: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of text.split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) {
      throw badOption(
        origin,
        path,
        text,
        'comma-separated key=value pairs such as "disktype=ssd,kubernetes.io/arch=amd64"',
        `The entry ${JSON.stringify(trimmed)} has no key=value form.`,
      );
    }
    out[trimmed.slice(0, eq).trim()] = trimmed.slice(eq + 1).trim();
  }
  return out;
}

export interface ClusterEnv {
  namespace?: string;
  context?: string;
  kubeconfig?: string;
  activeDeadlineSeconds?: number;
  reuse?: boolean;
  reuseIdleSeconds?: number;
  daemon?: boolean;
  timeouts: Partial<Timeouts>;
  origin: Origin;
  timeoutsOrigin: Origin;
}

export function readClusterEnv(env: NodeJS.ProcessEnv): ClusterEnv {
  const names: Record<string, string> = {
    namespace: `${ENV_PREFIX}NAMESPACE`,
    context: `${ENV_PREFIX}CONTEXT`,
    kubeconfig: `${ENV_PREFIX}KUBECONFIG`,
    activeDeadlineSeconds: `${ENV_PREFIX}ACTIVE_DEADLINE_SECONDS`,
    reuse: `${ENV_PREFIX}REUSE`,
    reuseIdleSeconds: `${ENV_PREFIX}REUSE_IDLE_SECONDS`,
    daemon: `${ENV_PREFIX}DAEMON`,
  };
  const origin = envOrigin(names);
  // Reuse the cache reader for timeouts so both paths validate identically.
  const timeoutLayer = readCacheEnv(pickTimeoutVars(env), ENV_PREFIX);
  const out: ClusterEnv = {
    timeouts: timeoutLayer.options.timeouts ?? {},
    origin,
    timeoutsOrigin: timeoutLayer.origin,
  };
  const namespace = read(env, `${ENV_PREFIX}NAMESPACE`);
  if (namespace !== undefined) out.namespace = vNamespace(origin, 'namespace', namespace);
  const context = read(env, `${ENV_PREFIX}CONTEXT`);
  if (context !== undefined) out.context = context;
  const kubeconfig = read(env, `${ENV_PREFIX}KUBECONFIG`);
  // Paths may contain spaces, and like KUBECONFIG may list several files.
  if (kubeconfig !== undefined) out.kubeconfig = kubeconfig;
  const deadline = read(env, `${ENV_PREFIX}ACTIVE_DEADLINE_SECONDS`);
  if (deadline !== undefined) {
    out.activeDeadlineSeconds = vPositiveInt(origin, 'activeDeadlineSeconds', deadline, 'seconds');
  }
  const reuse = read(env, `${ENV_PREFIX}REUSE`);
  if (reuse !== undefined) {
    if (!['1', '0', 'true', 'false'].includes(reuse)) {
      throw badOption(origin, 'reuse', reuse, '1, 0, true or false');
    }
    out.reuse = reuse === '1' || reuse === 'true';
  }
  const daemon = read(env, `${ENV_PREFIX}DAEMON`);
  if (daemon !== undefined) {
    if (!['1', '0', 'true', 'false'].includes(daemon)) {
      throw badOption(origin, 'daemon', daemon, '1, 0, true or false');
    }
    out.daemon = daemon === '1' || daemon === 'true';
  }
  const idle = read(env, `${ENV_PREFIX}REUSE_IDLE_SECONDS`);
  if (idle !== undefined) {
    out.reuseIdleSeconds = vPositiveInt(origin, 'reuseIdleSeconds', idle, 'seconds');
  }
  return out;
}

function pickTimeoutVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(`${ENV_PREFIX}TIMEOUT_`)) out[name] = value;
  }
  return out;
}

/**
 * A copy of `env` without the KUBECACHE_* variables that are empty or blank:
 * CI systems often export unset variables as empty strings, which must read
 * as "not set", never as a value.
 */
export function withoutEmptyVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(ENV_PREFIX) && (value === undefined || value.trim() === '')) continue;
    out[name] = value;
  }
  return out;
}

/** Suffixes read for every engine (KUBECACHE_X) and per engine (KUBECACHE_REDIS_X). */
const CACHE_SUFFIXES = [
  'IMAGE',
  'ENDPOINT',
  'UID',
  'MAX_RDB_VERSION',
  'AUTH',
  'ACL',
  'TLS',
  'NETWORK_POLICY',
  'NODE_SELECTOR',
  'ANNOTATIONS',
  'LABELS',
  'TOLERATIONS',
  'IMAGE_PULL_SECRETS',
  'CPU_REQUEST',
  'CPU_LIMIT',
  'MEMORY_REQUEST',
  'MEMORY_LIMIT',
];

/** Only per engine: server args differ between engines, and so do seeds. */
const ENGINE_ONLY_SUFFIXES = ['ARGS', 'SEED'];

/**
 * Every other KUBECACHE_* variable kubecache reads or writes. A new variable
 * gets a line here (and a row in docs/configuration.md), or its users get a
 * "did you mean" warning.
 */
export const OTHER_ENV_VARS: readonly string[] = [
  'NAMESPACE',
  'CONTEXT',
  'KUBECONFIG',
  'ACTIVE_DEADLINE_SECONDS',
  'REUSE',
  'REUSE_IDLE_SECONDS',
  'DAEMON',
  'CONFIG',
  'SEED_TRANSPORT',
  'ADVERTISE_URL',
  'SEED_BIND',
  'POD_NAME',
  'POD_IP',
  'QUIET',
  // Written by kubecache itself: the broker's address for workers, and the
  // download variables of a seeding container.
  'BROKER_URL',
  'BROKER_TOKEN',
  'BROKER_SEEDS',
  'SEED_URL',
  'SEED_TOKEN',
].map((suffix) => `${ENV_PREFIX}${suffix}`);

/** Prefixes of variables other tools of this family own (kubecache's own dev tooling). */
const FOREIGN_PREFIXES = [
  'KUBECACHE_K8S_',
  'KUBECACHE_CACHE_DIR',
  'KUBECACHE_STATE_DIR',
  'KUBECACHE_CONSUMER_',
  'KUBECACHE_DOCS_',
  // The dev cluster's scripts and the project's own tests.
  'KUBECACHE_CLUSTER',
  'KUBECACHE_CONTAINERD_',
  'KUBECACHE_TEST_',
];

/**
 * Every KUBECACHE_* name kubecache knows, TIMEOUT_*_MS variables included.
 * The engines default to the registry's names (engines/types.ts, which this
 * worker-side module may import), so a new engine's variables are known.
 */
export function knownEnvVars(engines: readonly string[] = ENGINE_NAMES): string[] {
  const out = new Set<string>(OTHER_ENV_VARS);
  const prefixes = [ENV_PREFIX, ...engines.map((e) => `${ENV_PREFIX}${e.toUpperCase()}_`)];
  for (const prefix of prefixes) {
    for (const suffix of CACHE_SUFFIXES) out.add(`${prefix}${suffix}`);
    for (const key of TIMEOUT_KEYS) out.add(`${prefix}TIMEOUT_${timeoutEnvName(key)}_MS`);
    if (prefix !== ENV_PREFIX)
      for (const suffix of ENGINE_ONLY_SUFFIXES) out.add(`${prefix}${suffix}`);
  }
  return [...out];
}

/**
 * Warnings for KUBECACHE_* variables kubecache does not know, each with the
 * closest known name: a misspelled variable would otherwise be ignored
 * without a word (KUBECACHE_NAMSPACE leaves the namespace at its default).
 */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = knownEnvVars();
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX) || known.includes(name)) continue;
    if (FOREIGN_PREFIXES.some((p) => name.startsWith(p))) continue;
    // Unknown timeouts are errors already (readTimeouts).
    if (/^KUBECACHE_(?:[A-Z]+_)?TIMEOUT_.+_MS$/.test(name)) continue;
    const suggestion = closest(name, known);
    warnings.push(
      `kubecache does not know the environment variable ${name}, so it has no effect.` +
        (suggestion ? ` Did you mean ${suggestion}?` : '') +
        ' The variables are listed in node_modules/kubecache/docs/configuration.md.',
    );
  }
  return warnings;
}

/** KUBECACHE_SEED_TRANSPORT, validated: "http", "exec" or "auto"; undefined when unset or empty. */
export function readSeedTransport(env: NodeJS.ProcessEnv): 'http' | 'exec' | 'auto' | undefined {
  const name = `${ENV_PREFIX}SEED_TRANSPORT`;
  const value = read(env, name);
  if (value === undefined) return undefined;
  if (value === 'http' || value === 'exec' || value === 'auto') return value;
  throw badOption(
    envOrigin({ seedTransport: name }),
    'seedTransport',
    value,
    '"http", "exec" or "auto"',
  );
}

// The variables below are not cache options: the broker's address that a
// runner publishes for its workers, where the config file is, and what the
// machine or pod says about itself. Every read of them is here so that the
// rules (empty means unset, which name wins) live in one place.

/** Written by the runner's global setup for its test workers: the broker's URL. */
export const ENV_BROKER_URL = `${ENV_PREFIX}BROKER_URL`;
/** Written by the runner's global setup for its test workers: the broker's bearer token. */
export const ENV_BROKER_TOKEN = `${ENV_PREFIX}BROKER_TOKEN`;
/** Written by the runner's global setup for its test workers: default seeds, as JSON. */
export const ENV_BROKER_SEEDS = `${ENV_PREFIX}BROKER_SEEDS`;
/** Prefix of the three variables above. */
const BROKER_PREFIX = `${ENV_PREFIX}BROKER_`;
export const ENV_CONFIG = `${ENV_PREFIX}CONFIG`;
export const ENV_ADVERTISE_URL = `${ENV_PREFIX}ADVERTISE_URL`;

/** `||` semantics: an empty value is unset, anything else (spaces too) is kept as written. */
function nonEmpty(value: string | undefined): string | undefined {
  return value ? value : undefined;
}

export interface BrokerVars {
  url: string;
  token: string;
  /** The parsed KUBECACHE_BROKER_SEEDS; `{}` when unset or empty. */
  seeds: unknown;
}

/**
 * The broker a runner published for this process (KUBECACHE_BROKER_URL and
 * _TOKEN); undefined unless both are set and non-empty.
 */
export function readBrokerVars(env: NodeJS.ProcessEnv = process.env): BrokerVars | undefined {
  const url = nonEmpty(env[ENV_BROKER_URL]);
  const token = nonEmpty(env[ENV_BROKER_TOKEN]);
  if (url === undefined || token === undefined) return undefined;
  const raw = nonEmpty(env[ENV_BROKER_SEEDS]);
  if (raw === undefined) return { url, token, seeds: {} };
  try {
    return { url, token, seeds: JSON.parse(raw) };
  } catch {
    throw new KubecacheError(
      'BROKER',
      `${ENV_BROKER_SEEDS} is not JSON; it is written by kubecache's global setup, so do not set it by hand.`,
    );
  }
}

/** `env` without the KUBECACHE_BROKER_* variables (a broker of its own must not inherit another's). */
export function withoutBrokerVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of Object.keys(out)) if (name.startsWith(BROKER_PREFIX)) delete out[name];
  return out;
}

/**
 * The variables that steer a broker, sorted by name: every KUBECACHE_* one
 * but the broker's own address, and KUBECONFIG. Two runs that differ in any
 * of them must not share a daemon.
 */
export function brokerSteeringVars(env: NodeJS.ProcessEnv): [string, string | undefined][] {
  return Object.entries(env)
    .filter(
      ([k]) => (k.startsWith(ENV_PREFIX) && !k.startsWith(BROKER_PREFIX)) || k === 'KUBECONFIG',
    )
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

/**
 * Sets variables in `env` (workers started later, and application code that
 * reads its config from the environment, see them) and returns what puts the
 * previous values back, deleting those that were unset.
 */
export function publishVars(
  values: Readonly<Record<string, string>>,
  env: NodeJS.ProcessEnv = process.env,
): () => void {
  const before = Object.fromEntries(Object.keys(values).map((k) => [k, env[k]]));
  Object.assign(env, values);
  return () => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
  };
}

/** KUBECACHE_CONFIG, trimmed; undefined when unset or blank. */
export function readConfigPath(env: NodeJS.ProcessEnv): string | undefined {
  return read(env, ENV_CONFIG);
}

export interface EngineSeedVar {
  /** The variable's name, for messages. */
  name: string;
  /** The path as written (trimmed), or null for "none": no seed, even a configured one. */
  path: string | null;
}

/** KUBECACHE_<ENGINE>_SEED per engine; blank ones count as unset. */
export function readEngineSeedVars(
  env: NodeJS.ProcessEnv,
): Partial<Record<EngineName, EngineSeedVar>> {
  const out: Partial<Record<EngineName, EngineSeedVar>> = {};
  for (const engine of ENGINE_NAMES) {
    const name = `${engineEnvPrefix(engine)}SEED`;
    const value = read(env, name);
    if (value !== undefined) out[engine] = { name, path: value === 'none' ? null : value };
  }
  return out;
}

/**
 * The pool slot the test runner gave this worker: VITEST_POOL_ID and/or
 * JEST_WORKER_ID (as `runner` says; both, Vitest's first, when it is left
 * out), "1" when unset. The runners set these themselves, so a value is taken
 * as it is.
 */
export function readWorkerId(
  env: NodeJS.ProcessEnv = process.env,
  runner?: 'vitest' | 'jest',
): string {
  const vitest = runner === 'jest' ? undefined : env.VITEST_POOL_ID;
  const jest = runner === 'vitest' ? undefined : env.JEST_WORKER_ID;
  return vitest ?? jest ?? '1';
}

/**
 * The runner's own pod, as the downward API names it: KUBECACHE_POD_NAME,
 * then POD_NAME. `explicit` is true when KUBECACHE_POD_NAME is set, which
 * asks for the owner lookup even outside the cluster.
 */
export function readPodName(env: NodeJS.ProcessEnv): { name?: string; explicit: boolean } {
  const own = nonEmpty(env[`${ENV_PREFIX}POD_NAME`]);
  const name = own ?? nonEmpty(env.POD_NAME);
  return { ...(name !== undefined ? { name } : {}), explicit: own !== undefined };
}

/** The runner pod's IP from the downward API: KUBECACHE_POD_IP, then POD_IP. */
export function readPodIp(env: NodeJS.ProcessEnv): string | undefined {
  return nonEmpty(env[`${ENV_PREFIX}POD_IP`]) ?? nonEmpty(env.POD_IP);
}

/** KUBECACHE_ADVERTISE_URL, trimmed, unparsed; undefined when unset or blank. */
export function readAdvertiseUrl(env: NodeJS.ProcessEnv): string | undefined {
  return read(env, ENV_ADVERTISE_URL);
}

/** KUBECACHE_SEED_BIND: the local address the RDB endpoint listens on, if not the advertised one. */
export function readSeedBind(env: NodeJS.ProcessEnv): string | undefined {
  return nonEmpty(env[`${ENV_PREFIX}SEED_BIND`]);
}

/** What the environment says about where client-node finds a cluster. */
export interface KubeEnv {
  /** KUBECONFIG as written, when non-empty (it may list several files). */
  kubeconfig?: string;
  /** The files KUBECONFIG lists, in order. */
  kubeconfigFiles: string[];
  /** HOME, when non-empty. */
  home?: string;
  /** KUBERNETES_SERVICE_HOST is set: this process runs in a pod with a service account. */
  inCluster: boolean;
}

export function readKubeEnv(env: NodeJS.ProcessEnv = process.env): KubeEnv {
  const kubeconfig = nonEmpty(env.KUBECONFIG);
  const home = nonEmpty(env.HOME);
  return {
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    kubeconfigFiles: (kubeconfig ?? '').split(':').filter((f) => f !== ''),
    ...(home !== undefined ? { home } : {}),
    inCluster: nonEmpty(env.KUBERNETES_SERVICE_HOST) !== undefined,
  };
}

/** Where client-node looks when KUBECONFIG is unset: ~/.kube/config of HOME (or the OS's home). */
export function defaultKubeconfigPath(kubeEnv: KubeEnv): string {
  return join(kubeEnv.home ?? homedir(), '.kube', 'config');
}
