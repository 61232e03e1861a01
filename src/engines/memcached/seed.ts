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
import type { MemcachedClient } from './client.js';

export interface MemcachedSeedEntry {
  key: string;
  value: string;
  /** Whole seconds. */
  ttl?: number;
}

export interface MemcachedJsonSeed {
  source: string;
  entries: MemcachedSeedEntry[];
}

// memcached reads an expiry above 30 days as a unix timestamp, not a duration.
const MEMCACHED_RELATIVE_TTL_LIMIT = 60 * 60 * 24 * 30;
const MEMCACHED_MAX_KEY_BYTES = 250;

const MEMCACHED_FORMAT_HINT =
  'Each key maps to a string (or number) or to {"value": string, "ttl"?: whole seconds}; see node_modules/kubecache/docs/seeds.md.';

export function parseMemcachedJsonSeed(text: string, sourceName: string): MemcachedJsonSeed {
  const root = parseJsonObject(text, sourceName, MEMCACHED_FORMAT_HINT);
  const entries: MemcachedSeedEntry[] = [];
  for (const [key, raw] of Object.entries(root)) {
    if (key === SCHEMA_KEY) continue;
    const at = (path = ''): string => `${sourceName}: key ${JSON.stringify(key)}${path}`;
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes === 0 || keyBytes > MEMCACHED_MAX_KEY_BYTES) {
      throw badFixture(
        `${at()} is ${keyBytes} bytes long; memcached keys must be 1 to ${MEMCACHED_MAX_KEY_BYTES} bytes.`,
        sourceName,
      );
    }
    if (hasUnsafeKeyChar(key)) {
      throw badFixture(
        `${at()} contains whitespace or control characters, which memcached keys cannot hold.`,
        sourceName,
      );
    }
    const text = scalar(raw);
    if (text !== undefined) {
      entries.push({ key, value: text });
      continue;
    }
    const spec = expectObject(raw, at(), MEMCACHED_FORMAT_HINT, sourceName);
    if (spec.type !== undefined) {
      throw badFixture(
        `${at()} has a "type" (${describe(spec.type)}): this looks like a redis fixture. memcached stores only ` +
          'strings: give each key a string or {"value": string, "ttl"?: whole seconds}, or use this file with useCache(\'redis\').',
        sourceName,
      );
    }
    rejectUnknownFields(spec, ['value', 'ttl'], at(), sourceName);
    const value = scalar(spec.value);
    if (value === undefined) {
      throw badFixture(
        `${at('.value')} must be a string or a number, got ${describe(spec.value)}.`,
        sourceName,
      );
    }
    const entry: MemcachedSeedEntry = { key, value };
    const ttl = parseTtl(spec.ttl, at('.ttl'), sourceName, true);
    if (ttl !== undefined) entry.ttl = ttl;
    entries.push(entry);
  }
  return { source: sourceName, entries };
}

/** Writes a memcached seed; sets run concurrently over memjs's connection. */
export async function applyMemcachedJsonSeed(
  client: MemcachedClient,
  seed: MemcachedJsonSeed,
): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  await Promise.all(
    seed.entries.map(async ({ key, value, ttl }) => {
      const expires = ttl === undefined ? 0 : ttl > MEMCACHED_RELATIVE_TTL_LIMIT ? now + ttl : ttl;
      let stored: boolean;
      try {
        stored = await client.set(key, value, { expires });
      } catch (err) {
        const message = (err as Error).message;
        // memjs reports a refused value (status E2BIG) as an Error like a
        // lost connection; only the former is the fixture's fault.
        const tooLarge = /too large/i.test(message);
        throw memcachedWriteError(client, seed.source, key, message, tooLarge, err);
      }
      if (!stored) {
        throw memcachedWriteError(client, seed.source, key, 'the server did not store it', true);
      }
    }),
  );
}

function memcachedWriteError(
  client: MemcachedClient,
  source: string,
  key: string,
  message: string,
  refused: boolean,
  cause?: unknown,
): KubecacheError {
  const where = client.servers.map((s) => `${s.host}:${s.port}`).join(', ');
  return new KubecacheError(
    refused ? 'BAD_FIXTURE' : 'UNREACHABLE',
    `Writing key ${JSON.stringify(key)} of seed ${source} to memcached at ${where} failed: ${message}. ` +
      (refused
        ? 'memcached refuses items above its size limit (1 MB unless raised with -I); ' +
          'shrink the value or raise the limit in the memcached args.'
        : 'Check that the cache pod is still running.'),
    { engine: 'memcached', source, key, servers: where },
    cause === undefined ? undefined : { cause },
  );
}

// Keys travel in the text protocol too (other clients, memcached's own
// tools), where spaces and control characters end or break the key.
function hasUnsafeKeyChar(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return true;
  }
  return false;
}

export function loadMemcachedJsonSeed(path: string): Promise<MemcachedJsonSeed> {
  return loadJsonSeedFile(path, parseMemcachedJsonSeed);
}
