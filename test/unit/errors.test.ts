import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  forbiddenError,
  fromJSON,
  isKubecacheError,
  KubecacheError,
  serializeError,
} from '../../src/errors.js';

describe('KubecacheError', () => {
  it('carries code, details, cause and a stable name', () => {
    const cause = new Error('socket hang up');
    const err = new KubecacheError('UNREACHABLE', 'cannot reach', { port: 6379 }, { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('KubecacheError');
    expect(err.code).toBe('UNREACHABLE');
    expect(err.details).toEqual({ port: 6379 });
    expect(err.cause).toBe(cause);
    expect(String(err)).toBe('KubecacheError: [UNREACHABLE] cannot reach');
  });

  it('defaults details to an empty object', () => {
    expect(new KubecacheError('INTERNAL', 'x').details).toEqual({});
  });
});

describe('isKubecacheError', () => {
  it('matches kubecache errors, optionally by code', () => {
    const err = new KubecacheError('TIMEOUT', 'slow');
    expect(isKubecacheError(err)).toBe(true);
    expect(isKubecacheError(err, 'TIMEOUT')).toBe(true);
    expect(isKubecacheError(err, 'CRASHED')).toBe(false);
  });

  it('rejects other values', () => {
    expect(isKubecacheError(new Error('x'))).toBe(false);
    expect(isKubecacheError({ name: 'KubecacheError', code: 'TIMEOUT' })).toBe(false);
    expect(isKubecacheError(undefined)).toBe(false);
  });

  it('recognises the same error shape from another copy of the package', () => {
    const foreign = Object.assign(new Error('from elsewhere'), {
      name: 'KubecacheError',
      code: 'POD_GONE',
    });
    expect(isKubecacheError(foreign, 'POD_GONE')).toBe(true);
    expect(serializeError(foreign)).toMatchObject({
      code: 'POD_GONE',
      message: '[POD_GONE] from elsewhere',
    });
  });
});

describe('toJSON / fromJSON', () => {
  it('round-trips code, message, details and the cause chain through JSON text', () => {
    const root = new Error('ECONNREFUSED');
    const mid = new TypeError('fetch failed', { cause: root });
    const err = new KubecacheError(
      'BROKER',
      'broker down',
      { url: 'http://x', n: 3 },
      { cause: mid },
    );
    const wire = JSON.stringify(err);
    const back = fromJSON(JSON.parse(wire));
    expect(back).toBeInstanceOf(KubecacheError);
    expect(back.code).toBe('BROKER');
    expect(back.message).toBe('[BROKER] broker down');
    expect(back.details).toEqual({ url: 'http://x', n: 3 });
    // Causes come back with their names, so they print as "TypeError: fetch
    // failed", not "Error: TypeError: fetch failed".
    expect((back.cause as Error).name).toBe('TypeError');
    expect((back.cause as Error).message).toBe('fetch failed');
    expect(String(back.cause)).toBe('TypeError: fetch failed');
    expect(((back.cause as Error).cause as Error).message).toBe('ECONNREFUSED');
    expect(String((back.cause as Error).cause)).toBe('Error: ECONNREFUSED');
    expect(KubecacheError.fromJSON(wire).code).toBe('BROKER');
  });

  it('has a row in docs/errors.md for every code, and no row for a code that does not exist', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect([...rows].sort()).toEqual([...ERROR_CODES].sort());
  });

  it('keeps every error code intact', () => {
    for (const code of ERROR_CODES) {
      expect(fromJSON(new KubecacheError(code, code).toJSON()).code).toBe(code);
    }
  });

  it('makes unserialisable details safe instead of throwing', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const err = new KubecacheError('INTERNAL', 'x', {
      big: 10n,
      circular,
      gone: undefined,
      when: new Date(0),
    });
    const json = JSON.parse(JSON.stringify(err));
    expect(json.details.big).toBe('10');
    expect(typeof json.details.circular).toBe('string');
    expect('gone' in json.details).toBe(false);
    expect(json.details.when).toBe('1970-01-01T00:00:00.000Z');
  });

  it('turns unknown codes and malformed payloads into INTERNAL errors', () => {
    const unknown = fromJSON({ code: 'NOPE', message: 'odd' });
    expect(unknown.code).toBe('INTERNAL');
    expect(unknown.message).toBe('[INTERNAL] odd');
    expect(unknown.details.originalCode).toBe('NOPE');
    expect(fromJSON(null).code).toBe('INTERNAL');
    expect(fromJSON('not json').message).toContain('not JSON');
    expect(fromJSON({ code: 'TIMEOUT' }).message).toBe('[TIMEOUT] Unknown kubecache error');
  });

  it('serialises foreign throwables as INTERNAL with their message', () => {
    expect(serializeError(new RangeError('bad range'))).toMatchObject({
      code: 'INTERNAL',
      message: '[INTERNAL] RangeError: bad range',
    });
    expect(serializeError('just a string')).toMatchObject({
      code: 'INTERNAL',
      message: '[INTERNAL] just a string',
    });
  });
});

describe('forbiddenError', () => {
  it('names verb, resource, namespace and the Role rule to add', () => {
    const err = forbiddenError('create', 'pods', 'ci-cache');
    expect(err.code).toBe('FORBIDDEN');
    expect(err.message).toContain('"create"');
    expect(err.message).toContain('pods');
    expect(err.message).toContain('"ci-cache"');
    expect(err.message).toContain('Role');
    expect(err.message).toContain('resources: ["pods"], verbs: ["create"]');
    expect(err.message).not.toContain('1.35');
    expect(err.details).toMatchObject({ verb: 'create', resource: 'pods', namespace: 'ci-cache' });
  });

  it.each(['exec', 'portforward'])('explains the 1.35 verb change for pods/%s', (sub) => {
    const err = forbiddenError('get', 'pods', 'ns1', sub);
    expect(err.message).toContain(`pods/${sub}`);
    expect(err.message).toContain('1.35');
    expect(err.message).toContain('verbs: ["create", "get"]');
    expect(err.details.subresource).toBe(sub);
  });
});

describe('what the user sees (issue 13, finding 11)', () => {
  it('puts the code in the message, once, however often the error crosses the wire', () => {
    const err = new KubecacheError('POD_GONE', 'pod kc-1 was deleted');
    expect(err.message).toBe('[POD_GONE] pod kc-1 was deleted');
    expect(String(err)).toBe('KubecacheError: [POD_GONE] pod kc-1 was deleted');
    expect(err.stack?.split('\n')[0]).toBe('KubecacheError: [POD_GONE] pod kc-1 was deleted');
    const twice = fromJSON(JSON.parse(JSON.stringify(fromJSON(err.toJSON()))));
    expect(twice.message).toBe('[POD_GONE] pod kc-1 was deleted');
    // Vitest reports an error through its toJSON(): the code must be there too.
    expect(err.toJSON().message).toBe('[POD_GONE] pod kc-1 was deleted');
  });

  it('never prints "Error: Error:" for a plain Error cause', () => {
    const wire = serializeError(new Error('socket hang up'));
    expect(wire.message).toBe('[INTERNAL] socket hang up');
    const back = fromJSON(wire);
    expect(String(back.cause)).toBe('Error: socket hang up');
    expect(back.message).toBe('[INTERNAL] socket hang up');
  });
});
