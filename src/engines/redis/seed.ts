import { KubecacheError } from '../../errors.js';
import {
  badFixture,
  describe,
  expectObject,
  loadJsonSeedFile,
  parseJsonObject,
  parseTtl,
  rejectUnknownFields,
} from '../../seed/json-fixture.js';
import type { RespArg, RespCommander } from './commander.js';

export type RedisSeedEntry =
  | { key: string; type: 'string'; value: string; ttl?: number }
  | { key: string; type: 'hash'; value: Array<[field: string, value: string]>; ttl?: number }
  | { key: string; type: 'list'; value: string[]; ttl?: number }
  | { key: string; type: 'set'; value: string[]; ttl?: number }
  | { key: string; type: 'zset'; value: Array<[score: number, member: string]>; ttl?: number };

export type RedisSeedType = RedisSeedEntry['type'];

/** A parsed, validated redis JSON fixture; ttl is in seconds as written in the file. */
export interface RedisJsonSeed {
  source: string;
  entries: RedisSeedEntry[];
}

const REDIS_TYPES: readonly RedisSeedType[] = ['string', 'hash', 'list', 'set', 'zset'];

const REDIS_FORMAT_HINT =
  'Each key maps to a string or to {"type": "string"|"hash"|"list"|"set"|"zset", "value": ..., "ttl"?: seconds}.';

export function parseRedisJsonSeed(text: string, sourceName: string): RedisJsonSeed {
  const root = parseJsonObject(text, sourceName, REDIS_FORMAT_HINT);
  const entries: RedisSeedEntry[] = [];
  for (const [key, raw] of Object.entries(root)) {
    const at = (path = ''): string => `${sourceName}: key ${JSON.stringify(key)}${path}`;
    if (typeof raw === 'string') {
      entries.push({ key, type: 'string', value: raw });
      continue;
    }
    const spec = expectObject(raw, at(), REDIS_FORMAT_HINT, sourceName);
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
    case 'string':
      if (typeof value !== 'string') {
        throw badFixture(`${at('.value')} must be a string, got ${describe(value)}.`, source);
      }
      return { key, type, value };
    case 'hash': {
      const fields = expectObject(
        value,
        at('.value'),
        'A hash value is an object of strings.',
        source,
      );
      const pairs: Array<[string, string]> = [];
      for (const [field, fieldValue] of Object.entries(fields)) {
        if (typeof fieldValue !== 'string') {
          throw badFixture(
            `${at(`.value[${JSON.stringify(field)}]`)} must be a string, got ${describe(fieldValue)}.`,
            source,
          );
        }
        pairs.push([field, fieldValue]);
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
      value.forEach((item: unknown, i) => {
        if (typeof item !== 'string') {
          throw badFixture(
            `${at(`.value[${i}]`)} must be a string, got ${describe(item)}.`,
            source,
          );
        }
      });
      if (value.length === 0) throw badFixture(emptyHint('array'), source);
      return { key, type, value: [...(value as string[])] };
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
  }
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
