import { extname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubecacheError } from '../errors.js';
import type { SeedRequest } from './protocol.js';

/**
 * How a test or config names a seed: a path or file URL whose extension
 * (.rdb, .json) gives the kind, or a SeedRequest whose path may also be a URL.
 */
export type SeedInput =
  | string
  | URL
  | { kind: 'rdb'; path: string | URL; transport?: 'http' | 'exec' | 'auto' }
  | { kind: 'json'; path: string | URL };

/**
 * Returns a SeedRequest with an absolute path: the broker runs in the
 * runner's process and may have another working directory than the code
 * that wrote the relative path.
 */
export type FileSeedRequest = Extract<SeedRequest, { path: string }>;

export function toSeedRequest(value: unknown, base: string, where: string): FileSeedRequest {
  const asPath = (p: unknown): string | undefined => {
    if (p instanceof URL) return fileURLToPath(p);
    // A file URL as a string, e.g. new URL('./users.rdb', import.meta.url).href.
    if (typeof p === 'string' && /^file:/i.test(p)) return fileURLToPath(p);
    if (typeof p === 'string' && p !== '') return isAbsolute(p) ? p : resolve(base, p);
    return undefined;
  };
  const direct = asPath(value);
  if (direct !== undefined) return { kind: seedKind(direct, where), path: direct };
  if (typeof value === 'object' && value !== null) {
    const v = value as { kind?: unknown; path?: unknown };
    const path = asPath(v.path);
    if ((v.kind === 'rdb' || v.kind === 'json') && path !== undefined) {
      return { ...(value as FileSeedRequest), path };
    }
  }
  throw new KubecacheError(
    'BAD_OPTION',
    `${where} must be a file path or file URL ending in .rdb or .json, or {kind: "rdb" | "json", path}; got ${JSON.stringify(value)}.`,
    { field: where },
  );
}

function seedKind(path: string, where: string): FileSeedRequest['kind'] {
  const ext = extname(path).toLowerCase();
  if (ext === '.rdb') return 'rdb';
  if (ext === '.json') return 'json';
  throw new KubecacheError(
    'BAD_OPTION',
    `${where}: cannot tell the seed kind of ${path} from its extension. Name it *.rdb or *.json, or pass {kind: "rdb" | "json", path}.`,
    { field: where },
  );
}
