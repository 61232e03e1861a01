import { KubecacheError } from '../../errors.js';
import {
  badFixture,
  describe,
  expectObject,
  loadJsonSeedFile,
  parseJsonObject,
  parseTtl,
  rejectUnknownFields,
  SCHEMA_KEY,
  scalar,
} from '../../seed/json-fixture.js';
import type { RespArg, RespCommander } from './commander.js';

export type RedisSeedEntry =
  | { key: string; type: 'string'; value: string; ttl?: number }
  | { key: string; type: 'hash'; value: Array<[field: string, value: string]>; ttl?: number }
  | { key: string; type: 'list'; value: string[]; ttl?: number }
  | { key: string; type: 'set'; value: string[]; ttl?: number }
  | { key: string; type: 'zset'; value: Array<[score: number, member: string]>; ttl?: number }
  | { key: string; type: 'stream'; value: StreamEntry[]; ttl?: number };

/** One stream entry: XADD's id ("*" when left out: redis assigns one) and its fields. */
export interface StreamEntry {
  id: string;
  fields: Array<[field: string, value: string]>;
}

export type RedisSeedType = RedisSeedEntry['type'];

/** A parsed, validated redis JSON fixture; ttl is in seconds as written in the file. */
export interface RedisJsonSeed {
  source: string;
  entries: RedisSeedEntry[];
}

const REDIS_TYPES: readonly RedisSeedType[] = ['string', 'hash', 'list', 'set', 'zset', 'stream'];
const STREAM_ID = /^(\*|\d+-(\d+|\*)|\d+)$/;

const REDIS_FORMAT_HINT =
  'Each key maps to a string (or number) or to {"type": "string"|"hash"|"list"|"set"|"zset"|"stream", "value": ..., "ttl"?: seconds}; see node_modules/kubecache/docs/seeds.md.';

export function parseRedisJsonSeed(text: string, sourceName: string): RedisJsonSeed {
  const root = parseJsonObject(text, sourceName, REDIS_FORMAT_HINT);
  const entries: RedisSeedEntry[] = [];
  for (const [key, raw] of Object.entries(root)) {
    if (key === SCHEMA_KEY) continue;
    const at = (path = ''): string => `${sourceName}: key ${JSON.stringify(key)}${path}`;
    const text = scalar(raw);
    if (text !== undefined) {
      entries.push({ key, type: 'string', value: text });
      continue;
    }
    const spec = expectObject(raw, at(), REDIS_FORMAT_HINT, sourceName);
    if (spec.type === undefined) throw untypedRedisKey(key, spec, at(), sourceName);
    rejectUnknownFields(spec, ['type', 'value', 'ttl'], at(), sourceName);
    const type = spec.type;
    if (typeof type !== 'string' || !(REDIS_TYPES as readonly string[]).includes(type)) {
      throw badFixture(
        `${at('.type')} must be one of ${REDIS_TYPES.join(', ')}, got ${describe(type)}.`,
        sourceName,
      );
    }
    const ttl = parseTtl(spec.ttl, at('.ttl'), sourceName, false);
    const value = spec.value;
    const entry = parseRedisValue(key, type as RedisSeedType, value, at, sourceName);
    if (ttl !== undefined) entry.ttl = ttl;
    entries.push(entry);
  }
  return { source: sourceName, entries };
}

function parseRedisValue(
  key: string,
  type: RedisSeedType,
  value: unknown,
  at: (path?: string) => string,
  source: string,
): RedisSeedEntry {
  const emptyHint = (what: string) =>
    `${at('.value')} is an empty ${what}; redis cannot store an empty ${type}, so remove the key or add elements.`;
  switch (type) {
    case 'string': {
      const text = scalar(value);
      if (text === undefined) {
        throw badFixture(
          `${at('.value')} must be a string or a number, got ${describe(value)}.`,
          source,
        );
      }
      return { key, type, value: text };
    }
    case 'hash': {
      const fields = expectObject(
        value,
        at('.value'),
        'A hash value is an object of strings.',
        source,
      );
      const pairs: Array<[string, string]> = [];
      for (const [field, fieldValue] of Object.entries(fields)) {
        const text = scalar(fieldValue);
        if (text === undefined) {
          throw badFixture(
            `${at(`.value[${JSON.stringify(field)}]`)} must be a string or a number, got ${describe(fieldValue)}.`,
            source,
          );
        }
        pairs.push([field, text]);
      }
      if (pairs.length === 0) throw badFixture(emptyHint('object'), source);
      return { key, type, value: pairs };
    }
    case 'list':
    case 'set': {
      if (!Array.isArray(value)) {
        throw badFixture(
          `${at('.value')} must be an array of strings for a ${type}, got ${describe(value)}.`,
          source,
        );
      }
      const items = value.map((item: unknown, i) => {
        const text = scalar(item);
        if (text === undefined) {
          throw badFixture(
            `${at(`.value[${i}]`)} must be a string or a number, got ${describe(item)}.`,
            source,
          );
        }
        return text;
      });
      if (items.length === 0) throw badFixture(emptyHint('array'), source);
      return { key, type, value: items };
    }
    case 'zset': {
      const members: Array<[number, string]> = [];
      if (Array.isArray(value)) {
        value.forEach((item: unknown, i) => {
          const path = `.value[${i}]`;
          if (!Array.isArray(item) || item.length !== 2 || typeof item[1] !== 'string') {
            throw badFixture(
              `${at(path)} must be a [score, member] pair with a string member, got ${describe(item)}.`,
              source,
            );
          }
          members.push([parseScore(item[0], at(`${path}[0]`), source), item[1]]);
        });
      } else if (typeof value === 'object' && value !== null) {
        for (const [member, score] of Object.entries(value)) {
          members.push([
            parseScore(score, at(`.value[${JSON.stringify(member)}]`), source),
            member,
          ]);
        }
      } else {
        throw badFixture(
          `${at('.value')} must be an array of [score, member] pairs or an object of member: score, got ${describe(value)}.`,
          source,
        );
      }
      if (members.length === 0) throw badFixture(emptyHint('collection'), source);
      return { key, type, value: members };
    }
    case 'stream':
      return { key, type, value: parseStream(value, at, source) };
  }
}

function parseStream(value: unknown, at: (path?: string) => string, source: string): StreamEntry[] {
  const shape =
    'an array of entries like {"id": "1700000000000-0", "fields": {"event": "login"}} ("id" is optional)';
  if (!Array.isArray(value) || value.length === 0) {
    throw badFixture(`${at('.value')} must be ${shape}, got ${describe(value)}.`, source);
  }
  return value.map((raw: unknown, i) => {
    const path = `.value[${i}]`;
    const entry = expectObject(raw, at(path), `A stream entry is ${shape}.`, source);
    rejectUnknownFields(entry, ['id', 'fields'], at(path), source);
    const id = entry.id === undefined ? '*' : entry.id;
    if (typeof id !== 'string' || !STREAM_ID.test(id)) {
      throw badFixture(
        `${at(`${path}.id`)} must be a stream id such as "1700000000000-0" (or left out), got ${describe(entry.id)}.`,
        source,
      );
    }
    const fields = expectObject(
      entry.fields,
      at(`${path}.fields`),
      'The fields of a stream entry are an object of strings or numbers.',
      source,
    );
    const pairs: Array<[string, string]> = [];
    for (const [field, fieldValue] of Object.entries(fields)) {
      const text = scalar(fieldValue);
      if (text === undefined) {
        throw badFixture(
          `${at(`${path}.fields[${JSON.stringify(field)}]`)} must be a string or a number, got ${describe(fieldValue)}.`,
          source,
        );
      }
      pairs.push([field, text]);
    }
    if (pairs.length === 0) {
      throw badFixture(
        `${at(`${path}.fields`)} is empty; a stream entry needs at least one field.`,
        source,
      );
    }
    return { id, fields: pairs };
  });
}

/**
 * A redis key given as an object without "type": the commonest guess is a
 * hash written as its fields, and a memcached fixture has {"value", "ttl"}.
 * Either way, show the exact rewrite instead of "unknown field".
 */
function untypedRedisKey(
  key: string,
  spec: Record<string, unknown>,
  at: string,
  source: string,
): KubecacheError {
  const fields = Object.keys(spec);
  const memcachedLike = fields.length > 0 && fields.every((f) => f === 'value' || f === 'ttl');
  if (memcachedLike) {
    return badFixture(
      `${at} has no "type". It looks like a memcached fixture ({"value", "ttl"}); a redis fixture names the type of each key, ` +
        `e.g. ${JSON.stringify({ [key]: { type: 'string', ...spec } })}. Check that this file is the one meant for redis.`,
      source,
    );
  }
  return badFixture(
    `${at} is an object without "type". To store it as a redis hash, write ${JSON.stringify({ [key]: { type: 'hash', value: spec } }).slice(0, 200)}. ` +
      REDIS_FORMAT_HINT,
    source,
  );
}

function parseScore(raw: unknown, at: string, source: string): number {
  if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
  // JSON has no Infinity, and redis accepts these spellings for it.
  if (raw === 'inf' || raw === '+inf') return Number.POSITIVE_INFINITY;
  if (raw === '-inf') return Number.NEGATIVE_INFINITY;
  throw badFixture(`${at} must be a number (or "inf"/"-inf"), got ${describe(raw)}.`, source);
}

/**
 * Writes a redis JSON seed in a single round trip. Each key is deleted first
 * so the result does not depend on what the cache held before.
 */
export async function applyRedisJsonSeed(resp: RespCommander, seed: RedisJsonSeed): Promise<void> {
  if (seed.entries.length === 0) return;
  const commands: RespArg[][] = [];
  for (const entry of seed.entries) commands.push(['DEL', entry.key]);
  for (const entry of seed.entries) {
    switch (entry.type) {
      case 'string':
        commands.push(['SET', entry.key, entry.value]);
        break;
      case 'hash':
        commands.push(['HSET', entry.key, ...entry.value.flat()]);
        break;
      case 'list':
        commands.push(['RPUSH', entry.key, ...entry.value]);
        break;
      case 'set':
        commands.push(['SADD', entry.key, ...entry.value]);
        break;
      case 'zset':
        commands.push([
          'ZADD',
          entry.key,
          ...entry.value.flatMap(([score, member]) => [zscore(score), member]),
        ]);
        break;
      case 'stream':
        for (const item of entry.value) {
          commands.push(['XADD', entry.key, item.id, ...item.fields.flat()]);
        }
        break;
    }
  }
  for (const entry of seed.entries) {
    if (entry.ttl !== undefined) commands.push(['PEXPIRE', entry.key, ttlMillis(entry.ttl)]);
  }
  let results: Array<[Error | null, unknown]>;
  try {
    results = await resp.batch(commands);
  } catch (err) {
    throw seedWriteError(resp, seed.source, (err as Error).message, err);
  }
  const failed = results.find(([err]) => err !== null);
  if (failed?.[0]) throw seedWriteError(resp, seed.source, failed[0].message, failed[0]);
}

function zscore(score: number): string {
  if (score === Number.POSITIVE_INFINITY) return '+inf';
  if (score === Number.NEGATIVE_INFINITY) return '-inf';
  return String(score);
}

function ttlMillis(seconds: number): number {
  // PEXPIRE 0 would delete the key at once; parseTtl already refuses that,
  // this only guards sub-millisecond values rounding down to it.
  return Math.max(1, Math.round(seconds * 1000));
}

function seedWriteError(
  resp: RespCommander,
  source: string,
  message: string,
  cause: unknown,
): KubecacheError {
  return new KubecacheError(
    'UNREACHABLE',
    `Writing seed ${source} to redis at ${resp.where} failed: ${message}. ` +
      'Check that the cache pod is still running and has enough memory for the fixture.',
    { engine: 'redis', source, where: resp.where },
    { cause },
  );
}

export function loadRedisJsonSeed(path: string): Promise<RedisJsonSeed> {
  return loadJsonSeedFile(path, parseRedisJsonSeed);
}
