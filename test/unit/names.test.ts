import { describe, expect, it } from 'vitest';
import {
  ANNOTATION_HOST,
  ANNOTATION_LEASE,
  ANNOTATION_PID,
  configHash,
  isDns1123Label,
  isValidLabelKey,
  isValidLabelValue,
  isValidRunId,
  LABEL_CONFIG_HASH,
  LABEL_ENGINE,
  LABEL_MANAGED_BY,
  LABEL_RUN,
  LABEL_WORKER,
  managedSelector,
  newRunId,
  podName,
  runSelector,
  sanitizeLabelValue,
  selector,
} from '../../src/names.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('label and annotation keys', () => {
  it('live under kubecache.dev/ except the standard managed-by label', () => {
    expect(LABEL_MANAGED_BY).toBe('app.kubernetes.io/managed-by');
    for (const key of [
      LABEL_RUN,
      LABEL_WORKER,
      LABEL_ENGINE,
      LABEL_CONFIG_HASH,
      ANNOTATION_LEASE,
      ANNOTATION_HOST,
      ANNOTATION_PID,
    ]) {
      expect(key.startsWith('kubecache.dev/')).toBe(true);
      expect(isValidLabelKey(key)).toBe(true);
    }
  });
});

describe('newRunId', () => {
  it('returns 10 lowercase base36 characters', () => {
    for (let i = 0; i < 200; i++) {
      const id = newRunId();
      expect(id).toMatch(/^[a-z0-9]{10}$/);
      expect(isValidRunId(id)).toBe(true);
    }
  });

  it('differs on every call within one process (so it cannot be a PID)', () => {
    const ids = new Set(Array.from({ length: 2000 }, () => newRunId()));
    expect(ids.size).toBe(2000);
  });

  it('isValidRunId rejects other shapes', () => {
    expect(isValidRunId('ABCDEFGHIJ')).toBe(false);
    expect(isValidRunId('abc')).toBe(false);
    expect(isValidRunId(1234567890)).toBe(false);
  });
});

describe('configHash', () => {
  it('ignores key order at every depth', () => {
    const a = { image: 'redis', resources: { limits: { cpu: '1', memory: '1Gi' } }, args: ['x'] };
    const b = { args: ['x'], resources: { limits: { memory: '1Gi', cpu: '1' } }, image: 'redis' };
    expect(configHash(a)).toBe(configHash(b));
    expect(configHash(a)).toMatch(/^[0-9a-f]{10}$/);
  });

  it('changes when any value or array order changes', () => {
    const base = configHash({ args: ['a', 'b'], image: 'redis' });
    expect(configHash({ args: ['b', 'a'], image: 'redis' })).not.toBe(base);
    expect(configHash({ args: ['a', 'b'], image: 'redis:7' })).not.toBe(base);
    expect(configHash({ args: ['a', 'b'], image: 'redis', extra: 1 })).not.toBe(base);
  });

  it('treats undefined properties like JSON does', () => {
    expect(configHash({ a: 1, b: undefined })).toBe(configHash({ a: 1 }));
  });

  it('rejects circular input with a kubecache error', () => {
    const loop: Record<string, unknown> = {};
    loop.loop = loop;
    expect(() => configHash(loop)).toThrow(/circular/);
  });
});

describe('podName', () => {
  const base = { runId: 'k3x9a0b2c1', engine: 'redis', worker: '3', configHash: 'abcdef0123' };

  it('reads kc-<engine>-<worker>-<runId>-<hash>', () => {
    expect(podName(base)).toMatch(/^kc-redis-3-k3x9a0b2c1-[0-9a-f]{8}$/);
  });

  it('is deterministic', () => {
    expect(podName(base)).toBe(podName({ ...base }));
  });

  it('stays a DNS-1123 label of at most 63 characters for long or odd inputs', () => {
    const inputs = [
      { ...base, worker: 'w'.repeat(500) },
      { ...base, engine: 'E'.repeat(100), worker: 'Worker_With.Dots', runId: 'R'.repeat(80) },
      { ...base, worker: '___' },
      { ...base, worker: '' },
      { ...base, worker: 'ünïcødé wörker' },
      { ...base, worker: '-leading-and-trailing-' },
      { ...base, worker: `${'a'.repeat(40)}-${'b'.repeat(40)}` },
    ];
    for (const input of inputs) {
      const name = podName(input);
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(DNS1123_LABEL);
      expect(isDns1123Label(name)).toBe(true);
    }
  });

  it('keeps short parts readable when truncating a long worker id', () => {
    const name = podName({ ...base, worker: 'x'.repeat(200) });
    expect(name.startsWith('kc-redis-x')).toBe(true);
    expect(name).toContain('-k3x9a0b2c1-');
  });

  it('stays unique when truncation or sanitising would make inputs collide', () => {
    const names = new Set<string>();
    const long = 'w'.repeat(100);
    for (let i = 0; i < 500; i++) {
      names.add(podName({ ...base, worker: `${long}${i}` }));
    }
    names.add(podName({ ...base, worker: 'a_b' }));
    names.add(podName({ ...base, worker: 'a-b' }));
    names.add(podName({ ...base, worker: 'A-B' }));
    names.add(podName({ ...base, configHash: '0000000000' }));
    names.add(podName({ ...base, engine: 'memcached' }));
    names.add(podName({ ...base, runId: 'zzzzzzzzzz' }));
    names.add(podName(base));
    names.add(podName({ ...base, instance: '2' }));
    expect(names.size).toBe(508);
  });
});

describe('label values', () => {
  it.each([
    ['', true],
    ['a', true],
    ['a.b_c-d', true],
    ['A1', true],
    ['x'.repeat(63), true],
    ['x'.repeat(64), false],
    ['-a', false],
    ['a-', false],
    ['a b', false],
    ['a/b', false],
  ])('isValidLabelValue(%j) is %s', (value, valid) => {
    expect(isValidLabelValue(value)).toBe(valid);
  });

  it('sanitizeLabelValue always yields a valid value and keeps valid ones unchanged', () => {
    const inputs = [
      'ci-runner-01.example.com',
      '--weird--',
      'host name with spaces',
      'ünïcødé',
      '...',
      `${'a'.repeat(62)}-b`,
      `${'a'.repeat(62)}._b`,
      'x'.repeat(300),
    ];
    for (const input of inputs) {
      const out = sanitizeLabelValue(input);
      expect(out.length).toBeLessThanOrEqual(63);
      expect(out).toMatch(LABEL_VALUE);
    }
    expect(sanitizeLabelValue('ci-runner-01.example.com')).toBe('ci-runner-01.example.com');
    expect(sanitizeLabelValue('host name')).toBe('host-name');
    expect(sanitizeLabelValue(`${'a'.repeat(62)}._b`)).toBe('a'.repeat(62));
  });

  it.each([
    ['app', true],
    ['example.com/team', true],
    ['app.kubernetes.io/managed-by', true],
    ['UPPER/name', false],
    ['/name', false],
    ['name/', false],
    ['a/b/c', false],
    [`${'x'.repeat(64)}`, false],
  ])('isValidLabelKey(%j) is %s', (key, valid) => {
    expect(isValidLabelKey(key)).toBe(valid);
  });
});

describe('selectors', () => {
  it('joins labels sorted by key', () => {
    expect(selector({ b: '2', a: '1', 'example.com/c': '3' })).toBe('a=1,b=2,example.com/c=3');
  });

  it('builds the run and managed selectors', () => {
    expect(managedSelector()).toBe('app.kubernetes.io/managed-by=kubecache');
    expect(runSelector('abc123')).toBe(
      'app.kubernetes.io/managed-by=kubecache,kubecache.dev/run=abc123',
    );
  });

  it('refuses values that would corrupt the selector', () => {
    expect(() => selector({ a: 'x,y=z' })).toThrow(/sanitizeLabelValue/);
    expect(() => selector({ 'bad key': 'x' })).toThrow();
  });
});
