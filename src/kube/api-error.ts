import { forbiddenError, KubecacheError } from '../errors.js';

/** What the failed call was trying to do, so a 403 can name the missing permission. */
export interface ApiCall {
  verb: string;
  resource: string;
  subresource?: string;
  namespace: string;
  name?: string;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown; statusCode?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

function messageOf(err: unknown): string {
  const body = (err as { body?: unknown })?.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return body;
    }
  }
  if (body && typeof body === 'object' && 'message' in body) {
    return String((body as { message: unknown }).message);
  }
  return err instanceof Error ? err.message : String(err);
}

/** The `details.kind` of a Kubernetes Status body: what was not found. */
function missingKind(err: unknown): string | undefined {
  let body = (err as { body?: unknown })?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const kind = (body as { details?: { kind?: unknown } } | undefined)?.details?.kind;
  return typeof kind === 'string' ? kind : undefined;
}

/** kubecache never creates namespaces: it needs nothing cluster-wide. */
export function namespaceNotFound(
  namespace: string,
  serverSaid: string,
  cause?: unknown,
): KubecacheError {
  return new KubecacheError(
    'NAMESPACE_NOT_FOUND',
    `the namespace "${namespace}" does not exist, so kubecache cannot create cache pods in it (${serverSaid}). ` +
      `Create it (kubectl create namespace ${namespace}), or choose an existing one with the namespace option or KUBECACHE_NAMESPACE. ` +
      'kubecache does not create namespaces, so it needs no cluster-wide permission.',
    { namespace },
    cause === undefined ? undefined : { cause },
  );
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return statusOf(err) === 409;
}

/** Maps a client-node failure onto the kubecache error family. */
export function toKubecacheError(err: unknown, call: ApiCall): KubecacheError {
  if (err instanceof KubecacheError) return err;
  const status = statusOf(err);
  const what = `${call.verb} ${call.resource}${call.subresource ? `/${call.subresource}` : ''}${call.name ? ` ${call.name}` : ''} in namespace ${call.namespace}`;
  if (status === 403) {
    const e = forbiddenError(call.verb, call.resource, call.namespace, call.subresource);
    return new KubecacheError(
      'FORBIDDEN',
      `${e.message} (server said: ${messageOf(err)})`,
      e.details,
      { cause: plainCause(err) },
    );
  }
  if (status === 404 && missingKind(err) === 'namespaces') {
    return namespaceNotFound(call.namespace, `${what}: ${messageOf(err)}`, plainCause(err));
  }
  if (status === 404) {
    return new KubecacheError(
      'POD_GONE',
      `${what}: not found (${messageOf(err)})`,
      { ...call },
      { cause: plainCause(err) },
    );
  }
  if (status === undefined) {
    return new KubecacheError(
      'UNREACHABLE',
      `${what} failed before the API server answered: ${messageOf(err)}`,
      { ...call },
      { cause: plainCause(err) },
    );
  }
  return new KubecacheError(
    'INTERNAL',
    `${what} failed with HTTP ${status}: ${messageOf(err)}`,
    { ...call, status },
    { cause: plainCause(err) },
  );
}

/**
 * client-node's ApiException carries response headers and bodies that test
 * runners fail to serialize across worker boundaries; keep only its text.
 */
export function plainCause(err: unknown): Error {
  const status = statusOf(err);
  return new Error(status === undefined ? messageOf(err) : `HTTP ${status}: ${messageOf(err)}`);
}
