import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  type ApiContext,
  apiCall,
  retryAfterMs,
  retryableFailure,
} from '../../src/kube/api-call.js';
import { classifyForbidden, namespaceOrigin, toKubecacheError } from '../../src/kube/api-error.js';
import { ServerClock } from '../../src/kube/server-clock.js';

const call = { verb: 'get', resource: 'pods', namespace: 'ns', name: 'p' };

function ctx(policy = { callMs: 200, retryMs: 2_000 }): ApiContext {
  return { namespace: 'ns', policy, clock: new ServerClock() };
}

function apiError(code: number, message = 'x', headers: Record<string, string> = {}): Error {
  return new ApiException(code, message, JSON.stringify({ message }), headers);
}

/** A `send` that fails with the given errors in turn, then answers `value`. */
function failing<T>(errors: unknown[], value: T): { send: () => Promise<T>; calls: () => number } {
  let n = 0;
  return {
    send: () => {
      const err = errors[n];
      n += 1;
      return err === undefined ? Promise.resolve(value) : Promise.reject(err);
    },
    calls: () => n,
  };
}

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates, ignores garbage', () => {
    expect(retryAfterMs('3', 0)).toBe(3_000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe('retryableFailure', () => {
  it('retries transport errors, 429 and 5xx only', () => {
    expect(retryableFailure(new TypeError('fetch failed'))).toBe('transport');
    expect(retryableFailure(apiError(429))).toBe('throttled');
    expect(retryableFailure(apiError(503))).toBe('server-error');
    expect(retryableFailure(apiError(500))).toBe('server-error');
    expect(retryableFailure(apiError(403))).toBeUndefined();
    expect(retryableFailure(apiError(404))).toBeUndefined();
    expect(retryableFailure(apiError(409))).toBeUndefined();
    expect(retryableFailure(apiError(422))).toBeUndefined();
  });
});

describe('apiCall', () => {
  it('retries an idempotent call through connection errors and 5xx', async () => {
    const s = failing([new TypeError('fetch failed'), apiError(503), apiError(500)], 'ok');
    await expect(apiCall(ctx(), call, s.send, { idempotent: true })).resolves.toBe('ok');
    expect(s.calls()).toBe(4);
  });

  it('does not retry a call that is not idempotent', async () => {
    const s = failing([new TypeError('fetch failed')], 'ok');
    const err = await apiCall(ctx(), call, s.send, { idempotent: false }).catch((e) => e);
    expect(err.code).toBe('UNREACHABLE');
    expect(s.calls()).toBe(1);
  });

  it('does not retry a 4xx answer', async () => {
    const s = failing([apiError(422, 'invalid')], 'ok');
    const err = await apiCall(ctx(), call, s.send, { idempotent: true }).catch((e) => e);
    // 422 Invalid: a value from the user's options, so BAD_OPTION (api-error.ts).
    expect(err.code).toBe('BAD_OPTION');
    expect(err.details.status).toBe(422);
    expect(s.calls()).toBe(1);
  });

  it('waits for Retry-After on 429 when it fits the budget, and gives up when it does not', async () => {
    const s = failing([apiError(429, 'slow down', { 'retry-after': '1' })], 'ok');
    const t0 = Date.now();
    await expect(apiCall(ctx(), call, s.send, { idempotent: true })).resolves.toBe('ok');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(990);
    const late = failing([apiError(429, 'slow down', { 'retry-after': '60' })], 'ok');
    const err = await apiCall(ctx(), call, late.send, { idempotent: true }).catch((e) => e);
    expect(late.calls()).toBe(1);
    expect(err.details.status).toBe(429);
  });

  it('ends an attempt that hangs at its deadline and reports TIMEOUT once the budget is spent', async () => {
    let attempts = 0;
    const hang = (): Promise<string> => {
      attempts += 1;
      return new Promise(() => {});
    };
    const err = await apiCall(ctx({ callMs: 50, retryMs: 400 }), call, hang, {
      idempotent: true,
    }).catch((e) => e);
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toContain('timeouts.apiCallMs');
    expect(attempts).toBeGreaterThan(1);
  });

  it('hands the abort signal to the request so a hung one is really cancelled', async () => {
    let aborted = false;
    const send = (options: { middleware?: { pre: (r: never) => unknown }[] }): Promise<string> =>
      new Promise((_, reject) => {
        const request = {
          setSignal(signal: AbortSignal) {
            signal.addEventListener('abort', () => {
              aborted = true;
              reject(new Error('aborted'));
            });
          },
        };
        options.middleware?.[0]?.pre(request as never);
      });
    await apiCall(ctx({ callMs: 30, retryMs: 30 }), call, send as never, {
      idempotent: true,
    }).catch(() => undefined);
    expect(aborted).toBe(true);
  });

  it('accepts a 409 on a retried create when the object is ours, not on the first attempt', async () => {
    const s = failing([new TypeError('socket hang up'), apiError(409, 'already exists')], 'new');
    const got = await apiCall(ctx(), { ...call, verb: 'create' }, s.send, {
      idempotent: true,
      onConflict: async () => 'existing',
    });
    expect(got).toBe('existing');
    const first = failing([apiError(409, 'already exists')], 'new');
    const err = await apiCall(ctx(), { ...call, verb: 'create' }, first.send, {
      idempotent: true,
      onConflict: async () => 'existing',
    }).catch((e) => e);
    expect(err.details.status).toBe(409);
    const notOurs = failing([new TypeError('socket hang up'), apiError(409, 'exists')], 'new');
    const err2 = await apiCall(ctx(), { ...call, verb: 'create' }, notOurs.send, {
      idempotent: true,
      onConflict: async () => undefined,
    }).catch((e) => e);
    expect(err2.details.status).toBe(409);
  });
});

describe('403: RBAC or admission', () => {
  const quota =
    'pods "kc-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3';
  const limit =
    'pods "kc-x" is forbidden: maximum memory usage per Container is 128Mi, but limit is 256Mi';
  const pss =
    'pods "kc-x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false';
  const rbac =
    'pods is forbidden: User "system:serviceaccount:ns:ro" cannot create resource "pods" in API group "" in the namespace "ns"';

  it('classifies the server message', () => {
    expect(classifyForbidden(quota)).toBe('QUOTA_EXCEEDED');
    expect(classifyForbidden(limit)).toBe('LIMIT_RANGE');
    expect(classifyForbidden(pss)).toBe('POD_SECURITY');
    expect(classifyForbidden(rbac)).toBe('FORBIDDEN');
    expect(classifyForbidden('admission webhook "policy.example.com" denied the request: no')).toBe(
      'ADMISSION_DENIED',
    );
  });

  it('gives admission rejections their own code and fix, never the RBAC advice', () => {
    const create = { verb: 'create', resource: 'pods', namespace: 'ci' };
    const q = toKubecacheError(apiError(403, quota), create);
    expect(q.code).toBe('QUOTA_EXCEEDED');
    expect(q.message).toContain('exceeded quota');
    expect(q.message).toContain('workers × caches');
    expect(q.message).toContain('kubectl describe resourcequota -n ci');
    expect(q.message).not.toContain('Role');
    const l = toKubecacheError(apiError(403, limit), create);
    expect(l.code).toBe('LIMIT_RANGE');
    expect(l.message).toContain('128Mi');
    expect(l.message).toContain('kubectl describe limitrange -n ci');
    expect(toKubecacheError(apiError(403, pss), create).code).toBe('POD_SECURITY');
    const r = toKubecacheError(apiError(403, rbac), create);
    expect(r.code).toBe('FORBIDDEN');
    expect(r.message).toContain('Role');
  });
});

describe('a namespace created a moment ago', () => {
  it('retries the 403 of a ServiceAccount not created yet, not other 403s', () => {
    expect(
      retryableFailure(
        apiError(
          403,
          'pods "kc-x" is forbidden: error looking up service account ns/default: serviceaccount "default" not found',
        ),
      ),
    ).toBe('not-ready');
    expect(
      retryableFailure(apiError(403, 'pods is forbidden: User "u" cannot create resource "pods"')),
    ).toBeUndefined();
  });
});

describe('404 answers', () => {
  it('tells a missing namespace from a missing pod', () => {
    const create = { verb: 'create', resource: 'pods', namespace: 'nope' };
    const ns = toKubecacheError(apiError(404, 'namespaces "nope" not found'), create);
    expect(ns.code).toBe('NAMESPACE_NOT_FOUND');
    expect(ns.message).toContain('kubectl create namespace nope');
    const pod = toKubecacheError(apiError(404, 'pods "kc-x" not found'), {
      ...create,
      verb: 'get',
      name: 'kc-x',
    });
    expect(pod.code).toBe('POD_GONE');
  });

  it("names where a missing namespace came from, and that place's fix, through apiCall", async () => {
    const create = { verb: 'create', resource: 'pods', namespace: 'nope' };
    const s = failing([apiError(404, 'namespaces "nope" not found')], 'ok');
    const fromEnv = { ...ctx(), namespaceOrigin: namespaceOrigin('env') };
    const err = await apiCall(fromEnv, create, s.send, { idempotent: false }).catch((e) => e);
    expect(err.code).toBe('NAMESPACE_NOT_FOUND');
    expect(err.message).toContain(
      'the namespace "nope" (set by KUBECACHE_NAMESPACE) does not exist',
    );
    expect(err.message).toContain('or set KUBECACHE_NAMESPACE to an existing one.');
  });

  it('words each way a namespace is chosen in the terms the user set it', () => {
    expect(namespaceOrigin('flag').change).toBe('pass --namespace with an existing one');
    expect(namespaceOrigin('options').change).toContain('kubecache.config.*');
    expect(namespaceOrigin('context', 'kind-dev').said).toBe(
      'the namespace of kubeconfig context kind-dev',
    );
    expect(namespaceOrigin('in-cluster').said).toBe("the runner pod's own namespace");
    expect(namespaceOrigin('default').said).toBe('the default, as nothing names one');
    for (const source of ['context', 'in-cluster', 'default'] as const) {
      expect(namespaceOrigin(source).change).toContain('KUBECACHE_NAMESPACE');
    }
    // Without an origin (a handle made by hand) the message keeps the general fix.
    const plain = toKubecacheError(apiError(404, 'namespaces "nope" not found'), {
      verb: 'create',
      resource: 'pods',
      namespace: 'nope',
    });
    expect(plain.message).toContain('the namespace "nope" does not exist');
    expect(plain.message).toContain('with the namespace option or KUBECACHE_NAMESPACE');
  });
});
