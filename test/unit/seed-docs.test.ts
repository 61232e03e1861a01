import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseMemcachedJsonSeed } from '../../src/engines/memcached/seed.js';
import { parseRedisJsonSeed } from '../../src/engines/redis/seed.js';
import { isKubecacheError } from '../../src/errors.js';

// The JSON seeds shown in the docs are checked twice: against the JSON Schema
// the package ships (what an editor shows) and by the parser kubecache runs.
// The two must agree, on the docs' examples and on the mistakes below.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ajv = new Ajv({ allErrors: true, strict: false });
const schemas = {
  redis: ajv.compile(JSON.parse(readFileSync(join(repo, 'schema/redis-seed.schema.json'), 'utf8'))),
  memcached: ajv.compile(
    JSON.parse(readFileSync(join(repo, 'schema/memcached-seed.schema.json'), 'utf8')),
  ),
};
const parsers = { redis: parseRedisJsonSeed, memcached: parseMemcachedJsonSeed };
type Engine = keyof typeof parsers;

function docSeeds(): { where: string; engine: Engine; text: string }[] {
  const docs = ['README.md', ...readdirSync(join(repo, 'docs')).map((f) => `docs/${f}`)];
  const out: { where: string; engine: Engine; text: string }[] = [];
  for (const doc of docs.filter((d) => d.endsWith('.md'))) {
    const text = readFileSync(join(repo, doc), 'utf8');
    for (const m of text.matchAll(/```json\n([\s\S]*?)\n```/g)) {
      const body = m[1] ?? '';
      const schema = /"\$schema":\s*"[^"]*\/(redis|memcached)-seed\.schema\.json"/.exec(body);
      if (!schema) continue;
      out.push({ where: `${doc}@${m.index}`, engine: schema[1] as Engine, text: body });
    }
  }
  return out;
}

function parserAccepts(engine: Engine, text: string): boolean {
  try {
    parsers[engine](text, 'x.json');
    return true;
  } catch (err) {
    if (isKubecacheError(err, 'BAD_FIXTURE')) return false;
    throw err;
  }
}

describe('the JSON seeds in the docs', () => {
  const seeds = docSeeds();
  it('are there: every redis type and memcached', () => {
    expect(seeds.length).toBeGreaterThanOrEqual(5);
    const all = seeds.map((s) => s.text).join('\n');
    for (const type of ['string', 'hash', 'list', 'set', 'zset', 'stream']) {
      expect(all).toContain(`"type": "${type}"`);
    }
    expect(seeds.some((s) => s.engine === 'memcached')).toBe(true);
  });

  it.each(seeds.map((s) => [s.where, s] as const))('%s matches its schema and parses', (_w, s) => {
    const validate = schemas[s.engine];
    expect(validate(JSON.parse(s.text)), ajv.errorsText(validate.errors)).toBe(true);
    expect(parserAccepts(s.engine, s.text)).toBe(true);
  });
});

describe('schema and parser agree', () => {
  const cases: [Engine, unknown, boolean][] = [
    ['redis', { a: 1, b: 'x', c: { type: 'string', value: 2, ttl: 0.5 } }, true],
    ['redis', { a: { type: 'list', value: [] } }, false],
    ['redis', { a: { type: 'hash', value: {} } }, false],
    ['redis', { a: { name: 'ada' } }, false],
    ['redis', { a: { value: 'x' } }, false],
    ['redis', { a: { type: 'string', value: 'x', ttl: 0 } }, false],
    ['redis', { a: { type: 'string', value: 'x', tll: 5 } }, false],
    [
      'redis',
      {
        a: {
          type: 'zset',
          value: [
            [1, 'm'],
            ['-inf', 'n'],
          ],
        },
      },
      true,
    ],
    ['redis', { a: { type: 'zset', value: [['x', 'm']] } }, false],
    ['redis', { a: { type: 'stream', value: [{ fields: { f: 1 } }] } }, true],
    ['redis', { a: { type: 'stream', value: [{ id: 'nope', fields: { f: 1 } }] } }, false],
    ['redis', { a: { type: 'stream', value: [{ fields: {} }] } }, false],
    ['redis', { a: true }, false],
    ['memcached', { a: 'x', b: 3, c: { value: 'y', ttl: 60 } }, true],
    ['memcached', { a: { value: 'y', ttl: 1.5 } }, false],
    ['memcached', { a: { type: 'string', value: 'y' } }, false],
    ['memcached', { 'has space': 'y' }, false],
    ['memcached', { a: null }, false],
  ];
  it.each(cases.map(([e, v, ok]) => [e, JSON.stringify(v), ok] as const))(
    '%s %s: %s',
    (engine, text, ok) => {
      expect(schemas[engine](JSON.parse(text))).toBe(ok);
      expect(parserAccepts(engine, text)).toBe(ok);
    },
  );
});
