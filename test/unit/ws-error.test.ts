import { describe, expect, it } from 'vitest';
import type { ApiCall } from '../../src/kube/api-error.js';
import { unwrapEvent, wsError } from '../../src/kube/ws-error.js';

const call: ApiCall = {
  verb: 'create',
  resource: 'pods',
  subresource: 'exec',
  namespace: 'ns',
  name: 'kc-redis-1',
};

// The shape of the `ws` library's ErrorEvent, which client-node rejects
// with: not an Error, with `error` and `message` (getters on the real one).
function errorEvent(error: unknown, message: string): object {
  return { type: 'error', target: {}, error, message };
}

describe('wsError', () => {
  it('names the transport failure an ErrorEvent carries, not "[object Object]"', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.245.0.1:6444'), {
      code: 'ECONNREFUSED',
    });
    const err = wsError(errorEvent(refused, refused.message), call);
    expect(err.code).toBe('UNREACHABLE');
    expect(err.message).toContain('connect ECONNREFUSED 10.245.0.1:6444');
    expect(err.message).not.toContain('[object Object]');
  });

  it('still reads the HTTP status of a refused upgrade inside an ErrorEvent', () => {
    const refused = new Error('Unexpected server response: 403');
    expect(wsError(errorEvent(refused, refused.message), call).code).toBe('FORBIDDEN');
    const gone = new Error('Unexpected server response: 404');
    expect(wsError(errorEvent(gone, gone.message), call).code).toBe('POD_GONE');
  });

  it('falls back to the message of an event without an Error', () => {
    const err = wsError(errorEvent(null, 'socket hang up'), call);
    expect(err.message).toContain('socket hang up');
  });
});

describe('unwrapEvent', () => {
  it('leaves Errors and non-objects as they are', () => {
    const e = new Error('x');
    expect(unwrapEvent(e)).toBe(e);
    expect(unwrapEvent('text')).toBe('text');
    expect(unwrapEvent(undefined)).toBeUndefined();
  });
});
