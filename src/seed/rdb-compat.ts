import { KubecacheError } from '../errors.js';

/**
 * Which RDB files a server loads. The answer depends on the server in the
 * image, not on a constant: redis 7.0 loads up to RDB 10, 7.2 up to 11, 7.4
 * up to 12; Valkey 7.2 to 8.1 up to 11, and Valkey 9 adds its own "VALKEY"
 * magic with version 80. Pure: the server's identity comes from INFO server
 * on a running pod, or from the log banner of a pod that failed to load.
 *
 * The tables stay here, not in src/engines/: the branch is on the server
 * found in the image, not on the engine the cache was asked for. Both
 * redis-protocol engines accept any image of the family (engine redis with
 * a valkey/valkey image runs Valkey and loads what Valkey loads), and the
 * RDB format is theirs in common.
 */

export type RdbMagic = 'REDIS' | 'VALKEY';

export interface RdbFormat {
  magic: RdbMagic;
  version: number;
}

export interface ServerIdentity {
  /** The server family the image runs (its own report), whatever engine started it. */
  name: 'redis' | 'valkey';
  /** e.g. "7.0.15" */
  version: string;
}

/** The highest version loaded per magic; a missing magic is not loaded at all. */
export interface RdbSupport {
  REDIS: number;
  VALKEY?: number;
}

/** The file's header as written: "REDIS0011", "VALKEY080". */
export function rdbLabel(format: RdbFormat): string {
  return format.magic === 'REDIS'
    ? `REDIS${String(format.version).padStart(4, '0')}`
    : `VALKEY${String(format.version).padStart(3, '0')}`;
}

export function describeServer(server: ServerIdentity): string {
  return `${server.name === 'valkey' ? 'Valkey' : 'Redis'} ${server.version}`;
}

/**
 * The server from `INFO server` (Valkey reports server_name:valkey and
 * valkey_version besides a redis_version kept for clients) or from a start-up
 * banner in its log ("Redis version=7.0.15, ...", "Valkey version=8.1.8, ...").
 */
export function parseServerIdentity(text: string): ServerIdentity | undefined {
  const valkey = /^valkey_version:([0-9][0-9.]*)\s*$/m.exec(text);
  if (valkey?.[1]) return { name: 'valkey', version: valkey[1] };
  const redis = /^redis_version:([0-9][0-9.]*)\s*$/m.exec(text);
  if (redis?.[1]) return { name: 'redis', version: redis[1] };
  const banner = /\b(Redis|Valkey) version=([0-9][0-9.]*)/.exec(text);
  if (banner?.[1] && banner[2]) {
    return { name: banner[1] === 'Valkey' ? 'valkey' : 'redis', version: banner[2] };
  }
  return undefined;
}

/** The RDB version a server refused in its log ("Can't handle RDB format version 11"). */
export function parseRefusedRdbVersion(text: string): number | undefined {
  const m = /Can't handle RDB format version (\d+)/.exec(text);
  return m?.[1] ? Number(m[1]) : undefined;
}

// [major, minor, highest RDB version] from each release line's rdb.h; a
// release newer than the last row loads what the last row loads, as far as
// kubecache knows (maxRdbVersion declares more).
const REDIS_RDB: readonly [number, number, number][] = [
  [2, 6, 6],
  [3, 2, 7],
  [4, 0, 8],
  [5, 0, 9],
  [7, 0, 10],
  [7, 2, 11],
  [7, 4, 12],
];
const VALKEY_RDB: readonly [number, number, number][] = [[7, 2, 11]];
/** Valkey 9 writes "VALKEY080" and still loads REDIS files up to 11. */
const VALKEY_OWN_MAGIC_SINCE = 9;
const VALKEY_OWN_VERSION = 80;

export function rdbSupport(server: ServerIdentity): RdbSupport {
  const [major = 0, minor = 0] = server.version.split('.').map(Number);
  const table = server.name === 'valkey' ? VALKEY_RDB : REDIS_RDB;
  let redis = 0;
  for (const [ma, mi, rdb] of table) {
    if (major > ma || (major === ma && minor >= mi)) redis = rdb;
  }
  if (server.name === 'valkey' && major >= VALKEY_OWN_MAGIC_SINCE) {
    return { REDIS: redis, VALKEY: VALKEY_OWN_VERSION };
  }
  return { REDIS: redis };
}

function loads(support: RdbSupport, format: RdbFormat): boolean {
  const max = support[format.magic];
  return max !== undefined && format.version >= 1 && format.version <= max;
}

/** What maxRdbVersion declares: REDIS files up to it, and VALKEY files when it reaches their version. */
export function declaredSupport(maxRdbVersion: number): RdbSupport {
  return { REDIS: maxRdbVersion, VALKEY: maxRdbVersion };
}

function supportText(support: RdbSupport): string {
  const parts = [`RDB versions up to ${support.REDIS} (REDIS magic)`];
  if (support.VALKEY !== undefined && support.VALKEY >= VALKEY_OWN_VERSION) {
    parts.push(`VALKEY files up to version ${support.VALKEY}`);
  }
  return parts.join(' and ');
}

export interface LoadTarget {
  image: string;
  /** Learned from one of the image's pods. */
  server?: ServerIdentity;
  /** Declared by the user; wins over what was learned. */
  maxRdbVersion?: number;
}

/**
 * Throws BAD_FIXTURE naming the fixture's version and the server's when the
 * target cannot load the file; returns quietly when it can or when nothing is
 * known yet about the image (its first pod then tells).
 */
export function checkRdbLoadable(path: string, format: RdbFormat, target: LoadTarget): void {
  let support: RdbSupport;
  let who: string;
  if (target.maxRdbVersion !== undefined) {
    support = declaredSupport(target.maxRdbVersion);
    who = `maxRdbVersion is ${target.maxRdbVersion} for image ${target.image}`;
  } else if (target.server) {
    support = rdbSupport(target.server);
    who = `the server in image ${target.image} is ${describeServer(target.server)}, which loads ${supportText(support)}`;
  } else {
    return;
  }
  if (loads(support, format)) return;
  throw incompatible(path, format, who, {
    image: target.image,
    ...(target.server ? { server: describeServer(target.server) } : {}),
    ...(target.maxRdbVersion !== undefined ? { maxRdbVersion: target.maxRdbVersion } : {}),
  });
}

/**
 * Reads a failed pod's log: when its server refused the fixture's RDB version,
 * returns the error to report (naming both versions) and the server it saw.
 */
export function explainRefusal(
  path: string,
  format: RdbFormat,
  image: string,
  logs: string,
): { error: KubecacheError; server?: ServerIdentity } | undefined {
  const refused = parseRefusedRdbVersion(logs);
  if (refused === undefined) return undefined;
  const server = parseServerIdentity(logs);
  const who = server
    ? `the server in image ${image} is ${describeServer(server)}, which refused it ("Can't handle RDB format version ${refused}"); it loads ${supportText(rdbSupport(server))}`
    : `the server in image ${image} refused it ("Can't handle RDB format version ${refused}")`;
  return {
    error: incompatible(path, format, who, {
      image,
      ...(server ? { server: describeServer(server) } : {}),
    }),
    ...(server ? { server } : {}),
  };
}

function incompatible(
  path: string,
  format: RdbFormat,
  who: string,
  details: Record<string, unknown>,
): KubecacheError {
  return new KubecacheError(
    'BAD_FIXTURE',
    `RDB fixture ${path} is ${rdbLabel(format)} (RDB version ${format.version}), but ${who}. ` +
      'Re-save the fixture with a server as old as the image, use an image whose server loads it ' +
      '(redis 7.2 and Valkey 7.2-8.1 load 11, redis 7.4 loads 12, Valkey 9 loads VALKEY080), or, ' +
      'if the image is known to load it, set maxRdbVersion to the version it loads.',
    { path, rdbMagic: format.magic, rdbVersion: format.version, ...details },
  );
}
