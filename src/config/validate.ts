import { ENGINE_NAMES, type EngineName } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import {
  isDns1123Label,
  isDns1123Subdomain,
  isValidLabelKey,
  isValidLabelValue,
  LABEL_MANAGED_BY,
  LABEL_PREFIX,
} from '../names.js';
import type {
  AclProfile,
  CacheOptions,
  EndpointMode,
  PrestartOption,
  ResourceOptions,
  ResourceQuantities,
  Timeouts,
  Toleration,
} from './options.js';

/**
 * Where a value came from, so an error can name the exact thing the user
 * typed: an option path such as `engines.redis.endpoint` or an environment
 * variable such as `KUBECACHE_REDIS_ENDPOINT`.
 */
export interface Origin {
  /** The field name a user would search for. */
  field(path: string): string;
  /** `field` plus where it was set, for messages. */
  describe(path: string): string;
}

export function optionOrigin(prefix: string, source: string): Origin {
  return {
    field: (path) => `${prefix}${path}`,
    describe: (path) => `option ${prefix}${path} (${source})`,
  };
}

/** Maps option paths back to the environment variable each came from. */
export function envOrigin(vars: Record<string, string>): Origin {
  const lookup = (path: string): { name: string; rest: string } => {
    let best = '';
    for (const key of Object.keys(vars)) {
      if (
        (path === key || path.startsWith(`${key}.`) || path.startsWith(`${key}[`)) &&
        key.length > best.length
      ) {
        best = key;
      }
    }
    return { name: vars[best] ?? path, rest: path.slice(best.length).replace(/^\./, '') };
  };
  return {
    field: (path) => lookup(path).name,
    describe: (path) => {
      const { name, rest } = lookup(path);
      return `environment variable ${name}${rest ? ` (at ${rest})` : ''}`;
    },
  };
}

export function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return '[function]';
  if (typeof value === 'bigint') return `${value}n`;
  // JSON has no NaN or Infinity: it would print them as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function badOption(
  origin: Origin,
  path: string,
  value: unknown,
  expected: string,
  hint?: string,
): KubecacheError {
  const field = origin.field(path);
  return new KubecacheError(
    'BAD_OPTION',
    `Invalid ${origin.describe(path)}: got ${show(value)}. Expected ${expected}.${hint ? ` ${hint}` : ''}`,
    { field, path, value: jsonable(value), expected },
  );
}

function jsonable(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value) ?? 'null');
  } catch {
    return String(value);
  }
}

const quoteList = (values: readonly string[]) => values.map((v) => `"${v}"`).join(', ');

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function expectObject(
  origin: Origin,
  path: string,
  value: unknown,
  what: string,
): Record<string, unknown> {
  if (!isPlainObject(value)) throw badOption(origin, path, value, `a plain object with ${what}`);
  return value;
}

/**
 * Rejects keys outside `allowed`, suggesting the closest one, because a typo
 * in an options object would otherwise be silently ignored.
 */
export function checkKeys(
  origin: Origin,
  path: string,
  value: Record<string, unknown>,
  allowed: readonly string[],
  globalOnly: readonly string[] = [],
): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const full = path ? `${path}.${key}` : key;
    if (globalOnly.includes(key)) {
      throw new KubecacheError(
        'BAD_OPTION',
        `The ${origin.describe(full)} can only be set in the top-level kubecache options ` +
          `(or its KUBECACHE_* environment variable), not here. Move it to the top level.`,
        { field: origin.field(full), path: full, expected: allowed },
      );
    }
    const suggestion = closest(key, allowed);
    throw new KubecacheError(
      'BAD_OPTION',
      `Unknown ${origin.describe(full)}.${suggestion ? ` Did you mean "${suggestion}"?` : ''} ` +
        `Known keys here: ${quoteList(allowed)}.`,
      { field: origin.field(full), path: full, suggestion, expected: allowed },
    );
  }
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent swaps, the commonest typo. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      const row = d[i];
      if (row) row[j] = best;
    }
  }
  return at(a.length, b.length);
}

export function closest(key: string, candidates: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(2, Math.floor(key.length / 3));
  return bestDistance <= limit ? best : undefined;
}

export function vString(origin: Origin, path: string, value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '' || /\s/.test(value)) {
    throw badOption(origin, path, value, `${what} (a non-empty string without spaces)`);
  }
  return value;
}

export function vStringArray(origin: Origin, path: string, value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw badOption(origin, path, value, 'an array of strings, e.g. ["--maxmemory", "64mb"]');
  }
  return value.map((item, i) => {
    if (typeof item !== 'string') {
      throw badOption(origin, `${path}[${i}]`, item, 'a string');
    }
    return item;
  });
}

export const ENDPOINT_MODES: readonly EndpointMode[] = ['auto', 'pod-ip', 'port-forward'];

export function vEndpoint(origin: Origin, path: string, value: unknown): EndpointMode {
  if (typeof value !== 'string' || !(ENDPOINT_MODES as readonly string[]).includes(value)) {
    throw badOption(
      origin,
      path,
      value,
      `one of ${quoteList(ENDPOINT_MODES)}`,
      '"auto" uses the pod IP when this machine can reach it and a port-forward otherwise.',
    );
  }
  return value as EndpointMode;
}

// Kubernetes resource.Quantity syntax; negative values are never valid for requests/limits.
const QUANTITY = /^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const QUANTITY_SCALE: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export function isQuantity(value: unknown): value is string {
  return typeof value === 'string' && QUANTITY.test(value);
}

/** Approximate numeric value, good enough to compare a request with a limit. */
export function quantityValue(quantity: string): number {
  const match = QUANTITY.exec(quantity);
  if (!match) return Number.NaN;
  const number = Number(match[1]);
  const suffix = match[3] ?? '';
  if (/^[eE]/.test(suffix)) return number * 10 ** Number(suffix.slice(1));
  return number * (QUANTITY_SCALE[suffix] ?? Number.NaN);
}

export function vQuantity(
  origin: Origin,
  path: string,
  value: unknown,
  kind: 'cpu' | 'memory',
): string {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (!isQuantity(text)) {
    const example = kind === 'cpu' ? '"100m", "0.5" or "1"' : '"64Mi", "1Gi" or "500M"';
    throw badOption(origin, path, value, `a Kubernetes quantity such as ${example}`);
  }
  // Kubernetes takes a bare number as bytes, so memory: 256 meant to be 256Mi
  // only failed later as "the request 32Mi is above the limit 256".
  if (kind === 'memory' && quantityValue(text) < MIN_MEMORY_BYTES) {
    throw badOption(
      origin,
      path,
      value,
      `a memory size of at least 1Mi with its unit, such as "64Mi" or "1Gi"`,
      /^\d+$/.test(text)
        ? `${text} without a unit is ${text} bytes, too little for any cache server. Did you mean "${text}Mi"?`
        : `${text} is less than 1Mi, too little for any cache server.`,
    );
  }
  return text;
}

/** Less memory than this is a unit left out, not a size a server could run in. */
const MIN_MEMORY_BYTES = 2 ** 20;

export function vResources(origin: Origin, path: string, value: unknown): ResourceOptions {
  const obj = expectObject(origin, path, value, 'optional "requests" and "limits"');
  checkKeys(origin, path, obj, ['requests', 'limits']);
  const out: ResourceOptions = {};
  for (const side of ['requests', 'limits'] as const) {
    const raw = obj[side];
    if (raw === undefined) continue;
    const sidePath = `${path}.${side}`;
    const sideObj = expectObject(origin, sidePath, raw, 'optional "cpu" and "memory"');
    checkKeys(origin, sidePath, sideObj, ['cpu', 'memory']);
    const quantities: ResourceQuantities = {};
    for (const kind of ['cpu', 'memory'] as const) {
      if (sideObj[kind] !== undefined) {
        quantities[kind] = vQuantity(origin, `${sidePath}.${kind}`, sideObj[kind], kind);
      }
    }
    out[side] = quantities;
  }
  return out;
}

export type MapKind = 'nodeSelector' | 'labels' | 'annotations';

const LABEL_KEY_FORMAT =
  '[prefix/]name where name is at most 63 characters of [A-Za-z0-9._-] starting and ending ' +
  'alphanumeric, and prefix is a DNS subdomain (e.g. "example.com/team")';
const LABEL_VALUE_FORMAT =
  'at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric (or empty)';

export function vStringMap(
  origin: Origin,
  path: string,
  value: unknown,
  kind: MapKind,
): Record<string, string> {
  const obj = expectObject(origin, path, value, 'string keys and string values');
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(obj)) {
    const itemPath = `${path}[${JSON.stringify(key)}]`;
    if (!isValidLabelKey(key)) {
      throw badOption(origin, itemPath, key, `a key of the form ${LABEL_KEY_FORMAT}`);
    }
    if (kind !== 'nodeSelector' && (key.startsWith(LABEL_PREFIX) || key === LABEL_MANAGED_BY)) {
      throw badOption(
        origin,
        itemPath,
        key,
        `a key outside "${LABEL_PREFIX}*" and "${LABEL_MANAGED_BY}"`,
        'Those keys are reserved for kubecache bookkeeping; pick another key.',
      );
    }
    if (typeof item !== 'string') {
      throw badOption(origin, itemPath, item, 'a string value');
    }
    if (kind !== 'annotations' && !isValidLabelValue(item)) {
      throw badOption(origin, itemPath, item, `a label value of ${LABEL_VALUE_FORMAT}`);
    }
    out[key] = item;
  }
  return out;
}

const TOLERATION_KEYS = ['key', 'operator', 'value', 'effect', 'tolerationSeconds'];
const TOLERATION_OPERATORS = ['Exists', 'Equal'] as const;
const TOLERATION_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

export function vTolerations(origin: Origin, path: string, value: unknown): Toleration[] {
  if (!Array.isArray(value)) {
    throw badOption(
      origin,
      path,
      value,
      'an array of tolerations, e.g. [{"key":"dedicated","operator":"Equal","value":"ci","effect":"NoSchedule"}]',
    );
  }
  return value.map((raw, i) => {
    const itemPath = `${path}[${i}]`;
    const obj = expectObject(origin, itemPath, raw, quoteList(TOLERATION_KEYS));
    checkKeys(origin, itemPath, obj, TOLERATION_KEYS);
    const t: Toleration = {};
    if (obj.key !== undefined && obj.key !== '') {
      if (!isValidLabelKey(obj.key)) {
        throw badOption(
          origin,
          `${itemPath}.key`,
          obj.key,
          `a taint key of the form ${LABEL_KEY_FORMAT}`,
        );
      }
      t.key = obj.key;
    }
    if (obj.operator !== undefined) {
      if (!(TOLERATION_OPERATORS as readonly unknown[]).includes(obj.operator)) {
        throw badOption(
          origin,
          `${itemPath}.operator`,
          obj.operator,
          `one of ${quoteList(TOLERATION_OPERATORS)}`,
        );
      }
      t.operator = obj.operator as Toleration['operator'];
    }
    if (obj.value !== undefined && obj.value !== '') {
      if (t.operator === 'Exists') {
        throw badOption(
          origin,
          `${itemPath}.value`,
          obj.value,
          'no value when operator is "Exists"',
          'Use operator "Equal" to match a specific value.',
        );
      }
      if (!isValidLabelValue(obj.value)) {
        throw badOption(
          origin,
          `${itemPath}.value`,
          obj.value,
          `a taint value of ${LABEL_VALUE_FORMAT}`,
        );
      }
      t.value = obj.value;
    }
    if (t.key === undefined && t.operator !== 'Exists') {
      throw badOption(
        origin,
        `${itemPath}.operator`,
        obj.operator,
        '"Exists" when no key is given',
        'An empty key with operator "Exists" tolerates every taint; otherwise set "key".',
      );
    }
    if (obj.effect !== undefined && obj.effect !== '') {
      if (!(TOLERATION_EFFECTS as readonly unknown[]).includes(obj.effect)) {
        throw badOption(
          origin,
          `${itemPath}.effect`,
          obj.effect,
          `one of ${quoteList(TOLERATION_EFFECTS)}`,
        );
      }
      t.effect = obj.effect as Toleration['effect'];
    }
    if (obj.tolerationSeconds !== undefined) {
      if (!Number.isInteger(obj.tolerationSeconds)) {
        throw badOption(
          origin,
          `${itemPath}.tolerationSeconds`,
          obj.tolerationSeconds,
          'an integer',
        );
      }
      if (t.effect !== 'NoExecute') {
        throw badOption(
          origin,
          `${itemPath}.effect`,
          obj.effect,
          '"NoExecute" when tolerationSeconds is set',
          'Kubernetes only honours tolerationSeconds for NoExecute taints.',
        );
      }
      t.tolerationSeconds = obj.tolerationSeconds as number;
    }
    return t;
  });
}

export function vImagePullSecrets(origin: Origin, path: string, value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw badOption(origin, path, value, 'an array of Secret names, e.g. ["regcred"]');
  }
  return value.map((item, i) => {
    if (!isDns1123Subdomain(item)) {
      throw badOption(
        origin,
        `${path}[${i}]`,
        item,
        'a Secret name (lowercase letters, digits, "-" and ".", at most 253 characters)',
      );
    }
    return item;
  });
}

// setTimeout fires immediately (with a warning) above this, which would turn
// a generous timeout into an instant failure.
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const TIMEOUT_KEYS: readonly (keyof Timeouts)[] = [
  'podRunningMs',
  'probeMs',
  'probeAttemptMs',
  'reachabilityProbeMs',
  'deleteMs',
  'execMs',
  'apiConnectMs',
  'leaseMs',
  'leaseRenewMs',
  'apiCallMs',
  'apiRetryMs',
];

export function vTimeoutMs(origin: Origin, path: string, value: unknown): number {
  const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (
    typeof number !== 'number' ||
    !Number.isInteger(number) ||
    number <= 0 ||
    number > MAX_TIMEOUT_MS
  ) {
    throw badOption(
      origin,
      path,
      value,
      `a positive whole number of milliseconds up to ${MAX_TIMEOUT_MS}`,
    );
  }
  return number;
}

const SNAPSHOT_CALL = 'cache.snapshot(path, options)';
const SNAPSHOT_OPTION_KEYS = ['timeoutMs'] as const;
const snapshotOrigin: Origin = {
  field: (path) => path,
  describe: (path) => (path ? `option ${path} of ${SNAPSHOT_CALL}` : `options of ${SNAPSHOT_CALL}`),
};

/**
 * The second argument of a handle's snapshot(), checked before it connects:
 * a typo or a bad limit would otherwise surface only as a TIMEOUT a minute
 * later, or (past setTimeout's range) as an instant one.
 */
export function vSnapshotOptions(value: unknown, defaultTimeoutMs: number): { timeoutMs: number } {
  if (value === undefined) return { timeoutMs: defaultTimeoutMs };
  if (!isPlainObject(value)) {
    throw badOption(
      snapshotOrigin,
      '',
      value,
      'a plain object such as { timeoutMs: 120000 }',
      typeof value === 'number' ? `Pass { timeoutMs: ${value} } instead of the number.` : undefined,
    );
  }
  checkKeys(snapshotOrigin, '', value, SNAPSHOT_OPTION_KEYS);
  const { timeoutMs } = value;
  if (timeoutMs === undefined) return { timeoutMs: defaultTimeoutMs };
  // A number only: the string form vTimeoutMs also takes is for environment variables.
  if (typeof timeoutMs !== 'number') {
    throw badOption(
      snapshotOrigin,
      'timeoutMs',
      timeoutMs,
      `a positive whole number of milliseconds up to ${MAX_TIMEOUT_MS}`,
    );
  }
  return { timeoutMs: vTimeoutMs(snapshotOrigin, 'timeoutMs', timeoutMs) };
}

/**
 * A CLI flag holding milliseconds, such as `kubecache snapshot --timeout-ms`:
 * digits only, so "1e3", "-5" or "" fail and are named as that flag.
 */
export function vTimeoutFlag(flag: string, value: string): number {
  return vTimeoutMs({ field: () => flag, describe: () => `flag ${flag}` }, flag, value);
}

export function vTimeouts(origin: Origin, path: string, value: unknown): Partial<Timeouts> {
  const obj = expectObject(origin, path, value, `keys among ${quoteList(TIMEOUT_KEYS)}`);
  checkKeys(origin, path, obj, TIMEOUT_KEYS);
  const out: Partial<Timeouts> = {};
  for (const key of TIMEOUT_KEYS) {
    if (obj[key] !== undefined) out[key] = vTimeoutMs(origin, `${path}.${key}`, obj[key]);
  }
  return out;
}

export function vPositiveInt(origin: Origin, path: string, value: unknown, unit: string): number {
  const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number <= 0) {
    throw badOption(origin, path, value, `a positive whole number of ${unit}`);
  }
  return number;
}

export function vNamespace(origin: Origin, path: string, value: unknown): string {
  if (!isDns1123Label(value)) {
    throw badOption(
      origin,
      path,
      value,
      'a Kubernetes namespace name: at most 63 characters of lowercase letters, digits and "-", ' +
        'starting and ending with a letter or digit',
    );
  }
  return value;
}

export const CACHE_OPTION_KEYS: readonly (keyof CacheOptions)[] = [
  'image',
  'args',
  'resources',
  'nodeSelector',
  'tolerations',
  'annotations',
  'labels',
  'imagePullSecrets',
  'endpoint',
  'timeouts',
  'uid',
  'maxRdbVersion',
  'auth',
  'acl',
  'tls',
  'networkPolicy',
];

/** Validates and copies one layer of cache options; unknown keys are errors. */
export function vCacheOptions(
  origin: Origin,
  path: string,
  value: unknown,
  extraAllowed: readonly string[] = [],
  globalOnly: readonly string[] = [],
): CacheOptions {
  const obj = expectObject(origin, path, value, `keys among ${quoteList(CACHE_OPTION_KEYS)}`);
  checkKeys(origin, path, obj, [...CACHE_OPTION_KEYS, ...extraAllowed], globalOnly);
  const at = (key: string) => (path ? `${path}.${key}` : key);
  const out: CacheOptions = {};
  if (obj.image !== undefined) {
    out.image = vString(origin, at('image'), obj.image, 'a container image reference');
  }
  if (obj.args !== undefined) out.args = vStringArray(origin, at('args'), obj.args);
  if (obj.resources !== undefined)
    out.resources = vResources(origin, at('resources'), obj.resources);
  for (const kind of ['nodeSelector', 'annotations', 'labels'] as const) {
    if (obj[kind] !== undefined) out[kind] = vStringMap(origin, at(kind), obj[kind], kind);
  }
  if (obj.tolerations !== undefined) {
    out.tolerations = vTolerations(origin, at('tolerations'), obj.tolerations);
  }
  if (obj.imagePullSecrets !== undefined) {
    out.imagePullSecrets = vImagePullSecrets(origin, at('imagePullSecrets'), obj.imagePullSecrets);
  }
  if (obj.endpoint !== undefined) out.endpoint = vEndpoint(origin, at('endpoint'), obj.endpoint);
  if (obj.timeouts !== undefined) out.timeouts = vTimeouts(origin, at('timeouts'), obj.timeouts);
  for (const key of ['auth', 'tls', 'networkPolicy'] as const) {
    if (obj[key] !== undefined) out[key] = vBoolean(origin, at(key), obj[key]);
  }
  if (obj.acl !== undefined) out.acl = vAcl(origin, at('acl'), obj.acl);
  if (obj.uid !== undefined) out.uid = vUid(origin, at('uid'), obj.uid);
  if (obj.maxRdbVersion !== undefined) {
    out.maxRdbVersion = vPositiveInt(
      origin,
      at('maxRdbVersion'),
      obj.maxRdbVersion,
      'RDB versions (redis 7.0: 10, 7.2 and Valkey 7.2-8.1: 11, 7.4: 12, Valkey 9: 80)',
    );
  }
  return out;
}

/** Keys only the top-level kubecache options may hold (the cluster, not one cache). */
export const GLOBAL_ONLY_KEYS: readonly string[] = [
  'namespace',
  'context',
  'kubeconfig',
  'activeDeadlineSeconds',
  'engines',
  'prestart',
  'reuse',
  'reuseIdleSeconds',
  'daemon',
];

/** The engine names useCache accepts; kept here so worker code need not load the engines. */
export const USE_CACHE_ENGINES = ENGINE_NAMES;

/** useCache's own keys, next to the pod options of CACHE_OPTION_KEYS. */
export const USE_CACHE_KEYS: readonly string[] = [
  'name',
  'seed',
  'reset',
  'openTimeoutMs',
  'client',
  'clientOptions',
  'env',
];

/** What cacheFixtures()/withCaches() definitions add to useCache's keys. */
export const FIXTURE_KEYS: readonly string[] = ['engine', 'scope'];

/**
 * Checks the engine name the moment useCache (or a fixture definition) is
 * called, so a typo fails at the line that has it, not later in a hook.
 */
export function vEngineName(value: unknown, call: string): EngineName {
  if ((USE_CACHE_ENGINES as readonly unknown[]).includes(value)) {
    return value as EngineName;
  }
  const suggestion = typeof value === 'string' ? closest(value, USE_CACHE_ENGINES) : undefined;
  throw new KubecacheError(
    'BAD_OPTION',
    `${call}: unknown cache engine ${show(value)}. kubecache has the engines ${quoteList(USE_CACHE_ENGINES)}.` +
      `${suggestion ? ` Did you mean "${suggestion}"?` : ''}`,
    { field: 'engine', value: jsonable(value), expected: USE_CACHE_ENGINES, suggestion },
  );
}

const CACHE_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,38}[A-Za-z0-9])?$/;

/**
 * Validates useCache's (or a fixture's) options synchronously: every key is
 * checked against the full list (pod options and useCache's own), with a
 * "did you mean" for typos, and every value is checked before any pod exists.
 * `checkSeed` validates the seed's shape (kept outside so this file does not
 * load the seed parser).
 */
export function vUseCacheOptions(
  value: unknown,
  source: string,
  options: { fixture?: boolean; checkSeed?: (seed: unknown, where: string) => void } = {},
): void {
  if (value === undefined) return;
  const origin = optionOrigin('', source);
  const own = options.fixture ? [...USE_CACHE_KEYS, ...FIXTURE_KEYS] : USE_CACHE_KEYS;
  const obj = expectObject(
    origin,
    '',
    value,
    `keys among ${quoteList([...own, ...CACHE_OPTION_KEYS])}`,
  );
  vCacheOptions(origin, '', obj, own, GLOBAL_ONLY_KEYS);
  if (obj.name !== undefined && (typeof obj.name !== 'string' || !CACHE_NAME.test(obj.name))) {
    throw badOption(
      origin,
      'name',
      obj.name,
      'a short name of letters, digits, ".", "_" and "-" (at most 40), e.g. "sessions"',
      'It tells apart two caches of one engine in a worker, and becomes part of a pod label.',
    );
  }
  if (obj.reset !== undefined && obj.reset !== 'test' && obj.reset !== 'file') {
    throw badOption(
      origin,
      'reset',
      obj.reset,
      '"test" (reset before every test, the default) or "file" (reset once, when the file starts)',
    );
  }
  if (obj.openTimeoutMs !== undefined) vTimeoutMs(origin, 'openTimeoutMs', obj.openTimeoutMs);
  if (obj.scope !== undefined && !['test', 'file', 'worker'].includes(obj.scope as string)) {
    throw badOption(origin, 'scope', obj.scope, '"test", "file" or "worker"');
  }
  if (obj.client !== undefined && typeof obj.client !== 'string') {
    throw badOption(origin, 'client', obj.client, '"ioredis" or "node-redis" (redis, valkey)');
  }
  if (obj.clientOptions !== undefined && !isPlainObject(obj.clientOptions)) {
    throw badOption(
      origin,
      'clientOptions',
      obj.clientOptions,
      'a plain object of client options (ioredis RedisOptions, or memjs ClientOptions)',
    );
  }
  if (obj.env !== undefined && obj.env !== false && typeof obj.env !== 'string') {
    throw badOption(
      origin,
      'env',
      obj.env,
      'the name of an environment variable to set to the cache URL (e.g. "REDIS_URL"), or false',
    );
  }
  if (
    obj.seed !== undefined &&
    obj.seed !== false &&
    typeof obj.seed !== 'function' &&
    options.checkSeed
  ) {
    options.checkSeed(obj.seed, `${source}: seed`);
  }
}

/** "platform", or a UID the container runs as (with group 0). */
export function vUid(origin: Origin, path: string, value: unknown): 'platform' | number {
  if (value === 'platform') return value;
  const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (
    typeof number !== 'number' ||
    !Number.isSafeInteger(number) ||
    number <= 0 ||
    number > 2 ** 31 - 1
  ) {
    throw badOption(
      origin,
      path,
      value,
      '"platform" or a non-root UID (1 to 2147483647)',
      '"platform" leaves the UID to the cluster (OpenShift restricted-v2); a number runs the cache as that UID with group 0.',
    );
  }
  return number;
}

/** `prestart`: false, or per engine a positive count or 'workers'. */
export function vPrestart(origin: Origin, path: string, value: unknown): PrestartOption | false {
  if (value === false) return false;
  const obj = expectObject(
    origin,
    path,
    value,
    `false or an object such as { redis: 'workers', memcached: 2 }`,
  );
  checkKeys(origin, path, obj, ENGINE_NAMES);
  const out: PrestartOption = {};
  for (const name of ENGINE_NAMES) {
    const raw = obj[name];
    if (raw === undefined) continue;
    if (raw === 'workers') out[name] = 'workers';
    else if (raw === 0) out[name] = 0;
    else out[name] = vPositiveInt(origin, `${path}.${name}`, raw, "pods, or 'workers'");
  }
  return out;
}

/** Accepts booleans, and the strings env variables carry ("true"/"1", "false"/"0"). */
export function vBoolean(origin: Origin, path: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw badOption(origin, path, value, 'true or false');
}

export const ACL_PROFILES: readonly AclProfile[] = ['app', 'restricted'];

export function vAcl(origin: Origin, path: string, value: unknown): AclProfile {
  if (typeof value !== 'string' || !(ACL_PROFILES as readonly string[]).includes(value)) {
    throw badOption(
      origin,
      path,
      value,
      `one of ${quoteList(ACL_PROFILES)}`,
      '"app" allows every data command (FLUSHALL too); "restricted" also forbids FLUSHALL, FLUSHDB and SWAPDB.',
    );
  }
  return value as AclProfile;
}
