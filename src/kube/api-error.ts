import { forbiddenError, KubecacheError } from '../errors.js';

/** What the failed call was trying to do, so a 403 can name the missing permission. */
export interface ApiCall {
  verb: string;
  resource: string;
  subresource?: string;
  namespace: string;
  name?: string;
}

/** The HTTP status of a client-node failure (ApiException.code, Watch's statusCode). */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.code === 'number') return e.code;
  return typeof e?.statusCode === 'number' ? e.statusCode : undefined;
}

export function describeCall(call: ApiCall): string {
  return `${call.verb} ${call.resource}${call.subresource ? `/${call.subresource}` : ''}${call.name ? ` ${call.name}` : ''} in namespace ${call.namespace}`;
}

/**
 * A 403 is RBAC only when the server says "cannot <verb> resource". Quota,
 * LimitRange, Pod Security and admission webhooks also answer 403 Forbidden,
 * and each needs a different fix from a different person.
 */
export type Rejection = 'QUOTA_EXCEEDED' | 'LIMIT_RANGE' | 'POD_SECURITY' | 'ADMISSION_DENIED';

export function classifyForbidden(serverMessage: string): Rejection | 'FORBIDDEN' {
  if (/\bexceeded quota\b/i.test(serverMessage)) return 'QUOTA_EXCEEDED';
  if (/violates PodSecurity/i.test(serverMessage)) return 'POD_SECURITY';
  if (
    /(maximum|minimum) (cpu|memory|ephemeral-storage) usage per (container|pod)|limit to request ratio|must specify (limits|requests)/i.test(
      serverMessage,
    )
  )
    return 'LIMIT_RANGE';
  if (/cannot [a-z]+ resource/i.test(serverMessage)) return 'FORBIDDEN';
  if (/admission webhook .* denied|denied the request/i.test(serverMessage))
    return 'ADMISSION_DENIED';
  return 'FORBIDDEN';
}

const REJECTION_FIX: Record<Rejection, string> = {
  QUOTA_EXCEEDED:
    "The namespace's ResourceQuota has no room for another cache pod. Each test worker gets its own pod per cache (workers × caches pods, each with its requests): run fewer workers, use fewer caches per file, lower resources.requests, or ask the namespace admin to raise the quota (kubectl describe resourcequota -n NS). When other runs hold the room, kubecache waits up to timeouts.podRunningMs for them to finish.",
  LIMIT_RANGE:
    "A LimitRange in the namespace does not allow the cache container's resources. Set resources.requests / resources.limits (or KUBECACHE_MEMORY_LIMIT, KUBECACHE_CPU_LIMIT, ...) within the namespace's bounds (kubectl describe limitrange -n NS).",
  POD_SECURITY:
    "The namespace's Pod Security level rejects the cache pod. Use a namespace whose pod-security.kubernetes.io/enforce level admits it, or ask the admin; the server's message lists the fields at fault.",
  ADMISSION_DENIED:
    "An admission webhook or policy of the cluster rejected the cache pod; the server's message says which one and why. Ask its owner, or adjust the cache's labels, annotations or resources to satisfy it.",
};

/** The API server's own message of a failed call (its Status body), else the error's. */
export function serverMessage(err: unknown): string {
  return messageOf(err);
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
  if (typeof kind === 'string') return kind;
  // Some answers (and proxies) carry only the message: `namespaces "x" not found`.
  return /^namespaces "[^"]*" not found/.test(messageOf(err)) ? 'namespaces' : undefined;
}

/** How a handle's namespace was chosen: set by the user (which way), or left to a default. */
export interface NamespaceOrigin {
  /** Where the namespace came from, e.g. "set by KUBECACHE_NAMESPACE". */
  said: string;
  /** The way to pick another one, e.g. "set KUBECACHE_NAMESPACE to an existing one". */
  change: string;
}

export type NamespaceSource = 'env' | 'options' | 'flag' | 'context' | 'in-cluster' | 'default';

/**
 * Where the namespace came from and how to pick another, in the user's
 * terms: a mistyped KUBECACHE_NAMESPACE is fixed there, not in a config file.
 */
export function namespaceOrigin(source: NamespaceSource, context?: string): NamespaceOrigin {
  const choose = 'choose an existing one with the namespace option or KUBECACHE_NAMESPACE';
  switch (source) {
    case 'env':
      return {
        said: 'set by KUBECACHE_NAMESPACE',
        change: 'set KUBECACHE_NAMESPACE to an existing one',
      };
    case 'options':
      return {
        said: 'set by the namespace option',
        change:
          'set the namespace option (kubecache.config.* or the options you pass) to an existing one',
      };
    case 'flag':
      return { said: 'given with --namespace', change: 'pass --namespace with an existing one' };
    case 'context':
      return {
        said: `the namespace of kubeconfig context ${context ?? '(current)'}`,
        change: choose,
      };
    case 'in-cluster':
      return { said: "the runner pod's own namespace", change: choose };
    case 'default':
      return { said: 'the default, as nothing names one', change: choose };
  }
}

/** kubecache never creates namespaces: it needs nothing cluster-wide. */
export function namespaceNotFound(
  namespace: string,
  serverSaid: string,
  cause?: unknown,
  origin?: NamespaceOrigin,
): KubecacheError {
  const said = origin ? ` (${origin.said})` : '';
  const change =
    origin?.change ?? 'choose an existing one with the namespace option or KUBECACHE_NAMESPACE';
  return new KubecacheError(
    'NAMESPACE_NOT_FOUND',
    `the namespace "${namespace}"${said} does not exist, so kubecache cannot create cache pods in it (${serverSaid}). ` +
      `Create it (kubectl create namespace ${namespace}), or ${change}. ` +
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
export function toKubecacheError(
  err: unknown,
  call: ApiCall,
  namespace?: NamespaceOrigin,
): KubecacheError {
  if (err instanceof KubecacheError) return err;
  const status = statusOf(err);
  const what = describeCall(call);
  const serverSaid = messageOf(err);
  const kind = status === 403 ? classifyForbidden(serverSaid) : undefined;
  if (kind && kind !== 'FORBIDDEN') {
    return new KubecacheError(
      kind,
      `${what} was rejected by the namespace's admission rules: ${serverSaid}. ${REJECTION_FIX[kind].replaceAll('-n NS', `-n ${call.namespace}`)}`,
      { ...call, status, serverMessage: serverSaid },
      { cause: plainCause(err) },
    );
  }
  if (status === 403) {
    const e = forbiddenError(call.verb, call.resource, call.namespace, call.subresource);
    return new KubecacheError(
      'FORBIDDEN',
      `${e.message} (server said: ${messageOf(err)})`,
      { ...e.details, status },
      { cause: plainCause(err) },
    );
  }
  // Credentials that worked when the run connected can expire mid-run (a
  // short-lived token, a rotated service account); that is no kubecache bug.
  if (status === 401) {
    return new KubecacheError(
      'FORBIDDEN',
      `${what} was refused: the API server no longer accepts the kubeconfig's credentials (HTTP 401: ${serverSaid}). ` +
        'They have probably expired: log in to the cluster again or refresh the token, check with ' +
        `kubectl get pods -n ${call.namespace}, and rerun the tests.`,
      { ...call, status },
      { cause: plainCause(err) },
    );
  }
  // kubecache's own fields of a pod are always valid, so a 422 Invalid names
  // a value that came from the user's options (a pull secret or label the
  // validator cannot fully check); the server's message says which field.
  if (status === 422) {
    return new KubecacheError(
      'BAD_OPTION',
      `${what} was refused as invalid: ${serverSaid}. The field it names comes from your kubecache options ` +
        '(image, args, resources, labels, annotations, nodeSelector, tolerations, imagePullSecrets): fix that value and rerun.',
      { ...call, status, serverMessage: serverSaid },
      { cause: plainCause(err) },
    );
  }
  if (status === 404 && missingKind(err) === 'namespaces') {
    return namespaceNotFound(
      call.namespace,
      `${what}: ${messageOf(err)}`,
      plainCause(err),
      namespace,
    );
  }
  if (status === 404) {
    return new KubecacheError(
      'POD_GONE',
      `${what}: not found (${messageOf(err)})`,
      { ...call, status },
      { cause: plainCause(err) },
    );
  }
  if (status === undefined) {
    const reason = transportReason(err);
    return new KubecacheError(
      'UNREACHABLE',
      `${what} failed before the API server answered: ${reason}`,
      { ...call, reason },
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
 * Why a request got no answer. undici says only "fetch failed"; the reason
 * (ECONNREFUSED, a DNS or TLS failure, ...) is in its cause chain.
 */
export function transportReason(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
    e = e.cause;
  }
  return parts.length > 0 ? parts.join(': ') : messageOf(err);
}

/**
 * client-node's ApiException carries response headers and bodies that test
 * runners fail to serialize across worker boundaries; keep only its text.
 */
export function plainCause(err: unknown): Error {
  const status = statusOf(err);
  return new Error(
    status === undefined ? transportReason(err) : `HTTP ${status}: ${messageOf(err)}`,
  );
}
