import { createHash, randomBytes } from 'node:crypto';
import { KubecacheError } from './errors.js';

export const LABEL_PREFIX = 'kubecache.dev/';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'kubecache';
export const LABEL_RUN = 'kubecache.dev/run';
export const LABEL_WORKER = 'kubecache.dev/worker';
export const LABEL_ENGINE = 'kubecache.dev/engine';
export const LABEL_CONFIG_HASH = 'kubecache.dev/config-hash';
/** RFC 3339 time after which a sweeper may delete the pod. */
export const ANNOTATION_LEASE = 'kubecache.dev/lease-expires';
export const ANNOTATION_HOST = 'kubecache.dev/created-by-host';
export const ANNOTATION_PID = 'kubecache.dev/created-by-pid';

const RUN_ID_LENGTH = 10;
const RUN_ID_SPACE = 36n ** BigInt(RUN_ID_LENGTH);
const NAME_MAX = 63;
const NAME_HASH_LENGTH = 8;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/**
 * A random run id. PIDs are not used because they repeat across CI machines
 * and containers (every container's first process is PID 1).
 */
export function newRunId(): string {
  // 8 random bytes reduced mod 36^10: the bias is below 2^-12, irrelevant for ids.
  const n = randomBytes(8).readBigUInt64BE() % RUN_ID_SPACE;
  return n.toString(36).padStart(RUN_ID_LENGTH, '0');
}

export function isValidRunId(value: unknown): value is string {
  return typeof value === 'string' && /^[a-z0-9]{10}$/.test(value);
}

/** Stable across key order, so equal configs give equal hashes whatever built them. */
export function configHash(value: unknown): string {
  return sha256(stableStringify(value)).slice(0, 10);
}

export function stableStringify(value: unknown): string {
  const seen = new Set<object>();
  const normalise = (v: unknown): unknown => {
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v;
    const withToJSON = v as { toJSON?: () => unknown };
    if (typeof withToJSON.toJSON === 'function') return normalise(withToJSON.toJSON());
    if (seen.has(v)) {
      throw new KubecacheError(
        'INTERNAL',
        'Cannot hash a configuration that contains a circular reference; pass plain data.',
      );
    }
    seen.add(v);
    let out: unknown;
    if (Array.isArray(v)) {
      // Like JSON, holes and undefined in arrays become null to keep positions.
      out = v.map((item) => {
        const n = normalise(item);
        return n === undefined || typeof n === 'function' || typeof n === 'symbol' ? null : n;
      });
    } else {
      const sorted: Record<string, unknown> = {};
      for (const key of Object.keys(v).sort()) {
        const n = normalise((v as Record<string, unknown>)[key]);
        if (n !== undefined && typeof n !== 'function' && typeof n !== 'symbol') sorted[key] = n;
      }
      out = sorted;
    }
    seen.delete(v);
    return out;
  };
  return JSON.stringify(normalise(value)) ?? 'undefined';
}

export interface PodNameInput {
  runId: string;
  engine: string;
  worker: string;
  configHash: string;
  /** Distinguishes several pods with identical inputs (e.g. two caches in one worker). */
  instance?: string;
}

/**
 * `kc-<engine>-<worker>-<runId>-<hash>`, always a DNS-1123 label. The hash
 * covers the raw inputs, so names stay unique even when sanitising or
 * truncating makes the readable parts collide.
 */
export function podName(input: PodNameInput): string {
  const hash = sha256(
    JSON.stringify([input.engine, input.worker, input.runId, input.configHash, input.instance]),
  ).slice(0, NAME_HASH_LENGTH);
  const prefix = 'kc-';
  const budget = NAME_MAX - prefix.length - 1 - hash.length;
  const middle = fitParts([input.engine, input.worker, input.runId].map(dnsPart), budget);
  return `${prefix}${middle}-${hash}`;
}

export function isDns1123Label(value: unknown): value is string {
  return typeof value === 'string' && value.length <= NAME_MAX && DNS1123_LABEL.test(value);
}

export function isDns1123Subdomain(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

export function isValidLabelValue(value: unknown): value is string {
  return typeof value === 'string' && value.length <= NAME_MAX && LABEL_VALUE.test(value);
}

/** Label and annotation keys share this syntax: `[prefix/]name`. */
export function isValidLabelKey(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const slash = value.lastIndexOf('/');
  const name = slash === -1 ? value : value.slice(slash + 1);
  if (slash !== -1) {
    const prefix = value.slice(0, slash);
    if (!isDns1123Subdomain(prefix)) return false;
  }
  return name.length <= NAME_MAX && QUALIFIED_NAME.test(name);
}

/** Coerces arbitrary text (host names, worker ids) into a valid label value. */
export function sanitizeLabelValue(value: string): string {
  return value
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, NAME_MAX)
    .replace(/[^A-Za-z0-9]+$/, '');
}

export function selector(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => {
      const value = labels[key] ?? '';
      if (!isValidLabelKey(key) || !isValidLabelValue(value)) {
        throw new KubecacheError(
          'INTERNAL',
          `Cannot build a label selector from ${JSON.stringify(key)}=${JSON.stringify(value)}: ` +
            'keys must be [prefix/]name and values at most 63 characters of [A-Za-z0-9._-]. ' +
            'Sanitise the value with sanitizeLabelValue() first.',
          { key, value },
        );
      }
      return `${key}=${value}`;
    })
    .join(',');
}

export function managedSelector(): string {
  return selector({ [LABEL_MANAGED_BY]: MANAGED_BY_VALUE });
}

export function runSelector(runId: string): string {
  return selector({ [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_RUN]: runId });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function dnsPart(value: string): string {
  // Capped early so pathological inputs do not make fitParts loop for long.
  const cleaned = value
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, NAME_MAX)
    .replace(/-+$/, '');
  return cleaned === '' ? 'x' : cleaned;
}

/** Shortens the longest part first, so short parts (engine, run id) survive intact. */
function fitParts(parts: string[], budget: number): string {
  const current = [...parts];
  const length = () => current.reduce((sum, p) => sum + p.length, 0) + current.length - 1;
  while (length() > budget) {
    let longest = 0;
    for (let i = 1; i < current.length; i++) {
      if ((current[i]?.length ?? 0) > (current[longest]?.length ?? 0)) longest = i;
    }
    const part = current[longest] ?? '';
    current[longest] = part.slice(0, part.length - 1).replace(/-+$/, '') || 'x';
    if (current.every((p) => p === 'x')) break;
  }
  return current.join('-');
}

/**
 * On a pod kept for reuse: a hash of everything that makes two pods
 * interchangeable (engine, image, args, resources, seed digest).
 */
export const LABEL_REUSE = 'kubecache.dev/reuse';
/** The run label of a kept pod that no run holds: the next matching run may claim it. */
export const IDLE_RUN = 'idle';
