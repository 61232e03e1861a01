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
  const ci = read(env, 'CI');
  return ci !== undefined && ci !== '0' && ci.toLowerCase() !== 'false';
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

/** Every KUBECACHE_* name kubecache knows, TIMEOUT_*_MS variables included. */
// Every engine by default: options.ts reads KUBECACHE_<ENGINE>_* for each of
// them, and a variable it reads must never be warned about as unknown.
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
