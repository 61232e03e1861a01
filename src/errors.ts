export type ErrorCode =
  | 'IMAGE_PULL'
  | 'CRASHED'
  | 'UNSCHEDULABLE'
  | 'FORBIDDEN'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'BAD_OPTION'
  | 'BAD_FIXTURE'
  | 'POD_GONE'
  | 'EXEC_FAILED'
  | 'BROKER'
  | 'INTERNAL'
  | 'QUOTA_EXCEEDED'
  | 'LIMIT_RANGE'
  | 'POD_SECURITY'
  | 'ADMISSION_DENIED'
  | 'POD_DIED'
  | 'NAMESPACE_NOT_FOUND'
  | 'NO_CLUSTER'
  | 'UNSUPPORTED_NODE'
  | 'NOT_OPEN';

export const ERROR_CODES: readonly ErrorCode[] = [
  'IMAGE_PULL',
  'CRASHED',
  'UNSCHEDULABLE',
  'FORBIDDEN',
  'UNREACHABLE',
  'TIMEOUT',
  'BAD_OPTION',
  'BAD_FIXTURE',
  'POD_GONE',
  'EXEC_FAILED',
  'BROKER',
  'INTERNAL',
  'QUOTA_EXCEEDED',
  'LIMIT_RANGE',
  'POD_SECURITY',
  'ADMISSION_DENIED',
  'POD_DIED',
  'NAMESPACE_NOT_FOUND',
  'NO_CLUSTER',
  'UNSUPPORTED_NODE',
  'NOT_OPEN',
];

/**
 * The code is part of the message (`[POD_GONE] ...`) because test runners
 * print `name: message` and a stack, not an error's other properties, and
 * docs/errors.md tells users to look codes up.
 */
function withCode(code: string, message: string): string {
  const prefix = `[${code}] `;
  return message.startsWith(prefix) ? message : `${prefix}${message}`;
}

function withoutCode(code: string, message: string): string {
  const prefix = `[${code}] `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

/** The wire shape used by the broker's HTTP API; everything in it is JSON-safe. */
export interface KubecacheErrorJSON {
  name: 'KubecacheError';
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
  /** Message chain of the original cause, outermost first; causes are not rebuilt as objects. */
  causes?: string[];
}

export class KubecacheError extends Error {
  override readonly name = 'KubecacheError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(withCode(code, message), options);
    this.code = code;
    this.details = details;
  }

  toJSON(): KubecacheErrorJSON {
    const json: KubecacheErrorJSON = {
      name: 'KubecacheError',
      code: this.code,
      // With the code: Vitest prints an error through its toJSON().
      message: this.message,
      details: jsonSafeRecord(this.details),
    };
    const causes = causeChain(this.cause);
    if (causes.length > 0) json.causes = causes;
    return json;
  }

  static fromJSON(json: unknown): KubecacheError {
    return fromJSON(json);
  }
}

export function isKubecacheError(e: unknown, code?: ErrorCode): e is KubecacheError {
  // `instanceof` alone misses errors from a second copy of the package (e.g. a
  // worker bundle), so fall back to the shape.
  const shaped =
    e instanceof KubecacheError ||
    (e instanceof Error &&
      e.name === 'KubecacheError' &&
      typeof (e as { code?: unknown }).code === 'string');
  return shaped && (code === undefined || (e as KubecacheError).code === code);
}

/**
 * Rebuilds an error sent by `toJSON()` so a worker can re-throw it with the
 * broker's code. Anything malformed becomes INTERNAL rather than throwing a
 * second, less useful error.
 */
export function fromJSON(json: unknown): KubecacheError {
  if (typeof json === 'string') {
    try {
      return fromJSON(JSON.parse(json));
    } catch {
      return new KubecacheError(
        'INTERNAL',
        `Received an error payload that is not JSON: ${json.slice(0, 200)}`,
      );
    }
  }
  if (typeof json !== 'object' || json === null) {
    return new KubecacheError('INTERNAL', `Received a malformed error payload: ${String(json)}`);
  }
  const raw = json as Partial<Record<keyof KubecacheErrorJSON, unknown>>;
  const message = typeof raw.message === 'string' ? raw.message : 'Unknown kubecache error';
  const code =
    typeof raw.code === 'string' && (ERROR_CODES as readonly string[]).includes(raw.code)
      ? (raw.code as ErrorCode)
      : 'INTERNAL';
  const details =
    typeof raw.details === 'object' && raw.details !== null && !Array.isArray(raw.details)
      ? { ...(raw.details as Record<string, unknown>) }
      : {};
  if (code === 'INTERNAL' && raw.code !== 'INTERNAL' && raw.code !== undefined) {
    details.originalCode = raw.code;
  }
  const causes = Array.isArray(raw.causes)
    ? raw.causes.filter((c): c is string => typeof c === 'string')
    : [];
  // Rebuild the chain innermost first so `error.cause.cause` mirrors the sender.
  let cause: Error | undefined;
  for (let i = causes.length - 1; i >= 0; i--) {
    cause = rebuildCause(causes[i] ?? '', cause);
  }
  return new KubecacheError(
    code,
    withoutCode(code, message),
    details,
    cause ? { cause } : undefined,
  );
}

/**
 * A cause travels as "Name: message"; it is rebuilt with that name so it
 * prints as `Caused by: TypeError: fetch failed`, not `Error: TypeError: ...`.
 */
function rebuildCause(text: string, inner: Error | undefined): Error {
  const match = /^([A-Za-z_$][\w$]*(?: \[[A-Z_]+\])?): ([\s\S]*)$/.exec(text);
  const err = new Error(match ? (match[2] ?? '') : text, inner ? { cause: inner } : undefined);
  if (match?.[1] && match[1] !== 'Error') {
    Object.defineProperty(err, 'name', { value: match[1], configurable: true, writable: true });
    // The stack's first line was computed with the old name.
    err.stack = (err.stack ?? '').replace(/^Error/, match[1]);
  }
  return err;
}

/** Serialises any thrown value; non-kubecache errors travel as INTERNAL with their message. */
export function serializeError(e: unknown): KubecacheErrorJSON {
  if (e instanceof KubecacheError) return e.toJSON();
  if (isKubecacheError(e)) {
    // Same shape from another copy of the package: rebuild so toJSON is ours.
    const foreign = e as { code: ErrorCode; message: string; details?: unknown; cause?: unknown };
    const details =
      typeof foreign.details === 'object' && foreign.details !== null
        ? (foreign.details as Record<string, unknown>)
        : {};
    return new KubecacheError(foreign.code, foreign.message, details, {
      cause: foreign.cause,
    }).toJSON();
  }
  // A plain Error's name adds nothing but a second "Error:" when printed.
  const message =
    e instanceof Error ? (e.name === 'Error' ? e.message : `${e.name}: ${e.message}`) : String(e);
  return new KubecacheError('INTERNAL', message, {}, { cause: e }).toJSON();
}

const CORE_RESOURCES = new Set([
  'pods',
  'secrets',
  'configmaps',
  'services',
  'events',
  'namespaces',
  'serviceaccounts',
]);

/**
 * Builds the error for a 403 from the API server. The message carries a Role
 * rule ready to paste because RBAC denials are almost always fixed by the
 * cluster admin, who needs the exact verb/resource pair.
 */
export function forbiddenError(
  verb: string,
  resource: string,
  namespace: string,
  subresource?: string,
  options?: { cause?: unknown },
): KubecacheError {
  const full = subresource ? `${resource}/${subresource}` : resource;
  const streaming =
    resource === 'pods' && (subresource === 'exec' || subresource === 'portforward');
  // Kubernetes 1.35+ authorises the websocket upgrade of exec/portforward as
  // `create`; older clusters checked `get`, so asking for both works everywhere.
  const verbs = streaming ? ['create', 'get'] : [verb];
  const apiGroups = CORE_RESOURCES.has(resource)
    ? 'apiGroups: [""], '
    : resource === 'networkpolicies'
      ? 'apiGroups: ["networking.k8s.io"], '
      : '';
  let message =
    `Kubernetes denied "${verb}" on ${full} in namespace "${namespace}". ` +
    'Grant it in the Role bound to the identity kubecache runs as, e.g. ' +
    `rules: [{${apiGroups}resources: ["${full}"], verbs: [${verbs.map((v) => `"${v}"`).join(', ')}]}].`;
  if (streaming) {
    message +=
      ` ${full} needs "create" on Kubernetes 1.35+ and "get" on older clusters; ` +
      'grant both if you are unsure which version runs.';
  }
  return new KubecacheError(
    'FORBIDDEN',
    message,
    { verb, resource, subresource, namespace },
    options,
  );
}

function causeChain(cause: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  let current = cause;
  while (current !== undefined && current !== null && !seen.has(current) && out.length < 8) {
    seen.add(current);
    if (current instanceof Error) {
      out.push(`${current.name}: ${current.message}`);
      current = current.cause;
    } else {
      // Test runners replace `cause` with a plain (even null-prototype)
      // object before serializing, so String() may throw here.
      const message = (current as { message?: unknown }).message;
      out.push(typeof message === 'string' ? message : safeString(current));
      break;
    }
  }
  return out;
}

function jsonSafeRecord(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (value === undefined) continue;
    try {
      const text = JSON.stringify(value, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      );
      if (text !== undefined) out[key] = JSON.parse(text);
    } catch {
      // Circular or otherwise unserialisable detail: keep something readable
      // rather than failing the whole error response.
      out[key] = String(value);
    }
  }
  return out;
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
