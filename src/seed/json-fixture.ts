import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KubecacheError } from '../errors.js';
import { missingFileHint } from './nearby-file.js';

// Parsing helpers shared by every engine's JSON seed format
// (src/engines/<engine>/seed.ts holds the format itself).

// JSON files are meant for small, readable datasets; beyond this an RDB
// fixture loads much faster and keeps the runner's memory flat.
const MAX_JSON_BYTES = 32 * 1024 * 1024;

/** Reads a JSON seed file and hands its text to the engine's parser. */
export async function loadJsonSeedFile<T>(
  path: string,
  parse: (text: string, source: string) => T,
): Promise<T> {
  const absolute = resolve(path);
  let text: string;
  try {
    const stats = await stat(absolute);
    if (!stats.isFile()) {
      throw badFixture(
        `JSON seed ${absolute} not found: it is not a regular file. Point the option at the .json file.`,
        absolute,
      );
    }
    if (stats.size > MAX_JSON_BYTES) {
      throw badFixture(
        `JSON seed ${absolute} is ${stats.size} bytes; JSON seeds are limited to ${MAX_JSON_BYTES} bytes. ` +
          'Save a dataset this large as an RDB fixture instead, which loads much faster.',
        absolute,
      );
    }
    text = await readFile(absolute, 'utf8');
  } catch (err) {
    if (err instanceof KubecacheError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new KubecacheError(
      'BAD_FIXTURE',
      code === 'ENOENT' || code === 'ENOTDIR'
        ? `JSON seed ${absolute} not found.${await missingFileHint(absolute)} Check the path (relative paths resolve against ${process.cwd()}).`
        : `Could not read JSON seed ${absolute}: ${(err as Error).message}.`,
      { source: absolute },
      { cause: err },
    );
  }
  return parse(text, absolute);
}

export function parseJsonObject(
  text: string,
  source: string,
  hint: string,
): Record<string, unknown> {
  let root: unknown;
  try {
    // A UTF-8 BOM from Windows editors is not an error worth failing on.
    root = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new KubecacheError(
      'BAD_FIXTURE',
      `${source} is not valid JSON: ${(err as Error).message}. Fix the syntax and rerun.`,
      { source },
      { cause: err },
    );
  }
  return expectObject(root, `${source}: the top level`, hint, source);
}

export function expectObject(
  value: unknown,
  at: string,
  hint: string,
  source: string,
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badFixture(`${at} must be an object, got ${describe(value)}. ${hint}`, source);
  }
  return value as Record<string, unknown>;
}

export function rejectUnknownFields(
  spec: Record<string, unknown>,
  allowed: string[],
  at: string,
  source: string,
): void {
  const unknown = Object.keys(spec).filter((field) => !allowed.includes(field));
  if (unknown.length > 0) {
    throw badFixture(
      `${at} has unknown field(s) ${unknown.map((f) => JSON.stringify(f)).join(', ')}; ` +
        `allowed are ${allowed.map((f) => JSON.stringify(f)).join(', ')}. Check for typos.`,
      source,
    );
  }
}

export function parseTtl(
  raw: unknown,
  at: string,
  source: string,
  wholeSeconds: boolean,
): number | undefined {
  if (raw === undefined) return undefined;
  const ok =
    typeof raw === 'number' &&
    Number.isFinite(raw) &&
    raw > 0 &&
    (!wholeSeconds || Number.isInteger(raw));
  if (!ok) {
    throw badFixture(
      `${at} must be a positive ${wholeSeconds ? 'whole ' : ''}number of seconds, got ${describe(raw)}. ` +
        'Leave it out for a key that never expires.',
      source,
    );
  }
  return raw;
}

export function badFixture(message: string, source: string): KubecacheError {
  return new KubecacheError('BAD_FIXTURE', message, { source });
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(truncate(value))}`;
  if (typeof value === 'object') return 'an object';
  if (value === undefined) return 'nothing';
  return `${typeof value} ${String(value)}`;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** An editor's schema reference (see schema/ in the package), not a key. */
export const SCHEMA_KEY = '$schema';

/** JSON numbers are written as redis/memcached store them: as their decimal text. */
export function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}
