import { createHash } from 'node:crypto';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isKubecacheError, KubecacheError } from '../errors.js';
import { Crc64 } from './crc64.js';
import { missingFileHint } from './nearby-file.js';
import { type RdbMagic, rdbLabel } from './rdb-compat.js';

export interface RdbFixtureInfo {
  /** Absolute path of the fixture on the runner. */
  path: string;
  size: number;
  /** Lowercase hex SHA-256 of the whole file; the pod re-checks it before loading. */
  sha256: string;
  rdbVersion: number;
  /** "REDIS" (every redis and Valkey up to 8) or "VALKEY" (Valkey 9's own format). */
  rdbMagic: RdbMagic;
  mtimeMs: number;
}

export interface ValidateRdbOptions {
  /**
   * Highest RDB format version the target server loads, when declared (the
   * maxRdbVersion option). Without it only the file itself is checked here;
   * the server's own limit is checked against the image (rdb-compat.ts).
   */
  maxRdbVersion?: number;
  /** Read size; only tests change it, to put chunk boundaries inside the header and trailer. */
  readChunkBytes?: number;
}

/**
 * What redis 7.0 (the default redis:7-alpine at the time of writing) loads:
 * the assumption of offline checks (kubecache check) that have no server to
 * ask. Seeding itself checks against the image's own server (rdb-compat.ts).
 */
export const DEFAULT_MAX_RDB_VERSION = 10;

// "REDIS" + four ASCII digits, or Valkey 9's "VALKEY" + three: 9 bytes either way.
const MAGICS: readonly { magic: RdbMagic; digits: number }[] = [
  { magic: 'REDIS', digits: 4 },
  { magic: 'VALKEY', digits: 3 },
];
const HEADER_LENGTH = 9;
const EOF_OPCODE = 0xff;
const CHECKSUM_LENGTH = 8;
const EOF_TRAILER_LENGTH = 1 + CHECKSUM_LENGTH;
// RDB 5 (redis 2.6) added the trailing checksum; older files end at the EOF opcode.
const FIRST_CHECKSUMMED_VERSION = 5;
const VERSION_HINT =
  'Redis 7.0 loads RDB versions up to 10, 7.2 up to 11 and 7.4 up to 12 (Valkey 7.2-8.1: 11, ' +
  'Valkey 9: VALKEY080); the image decides, so either re-save the fixture with a server as old ' +
  'as the image or use a newer image and raise maxRdbVersion to match.';

/**
 * Checks that `path` is a complete RDB file the target redis will load, and
 * fingerprints it for the pod-side check. The file is streamed once, so a
 * 100 MB fixture costs a read but never 100 MB of memory.
 */
export async function validateRdbFixture(
  path: string,
  opts: ValidateRdbOptions = {},
): Promise<RdbFixtureInfo> {
  const absolute = resolve(path);
  const maxRdbVersion = opts.maxRdbVersion;
  if (maxRdbVersion !== undefined && (!Number.isInteger(maxRdbVersion) || maxRdbVersion < 1)) {
    throw new KubecacheError(
      'BAD_OPTION',
      `maxRdbVersion must be a positive integer, got ${String(maxRdbVersion)}. ` +
        'Set it to the RDB version the redis image loads (7.0: 10, 7.2: 11, 7.4: 12).',
      { maxRdbVersion },
    );
  }
  const stats = await statFixture(absolute);
  const bad = (problem: string, details: Record<string, unknown> = {}): KubecacheError =>
    new KubecacheError('BAD_FIXTURE', `RDB fixture ${absolute} ${problem}`, {
      path: absolute,
      ...details,
    });

  if (stats.size < HEADER_LENGTH) {
    throw bad(
      `is only ${stats.size} bytes, too short for an RDB header; ` +
        'it is truncated or not an RDB file. Regenerate it with SAVE or BGSAVE.',
      { size: stats.size },
    );
  }

  const size = stats.size;
  const sha = createHash('sha256');
  const crc = new Crc64();
  const header = Buffer.alloc(HEADER_LENGTH);
  // The last 9 bytes: EOF opcode + checksum (or, before RDB 5, the opcode is the last byte).
  const trailer = Buffer.alloc(Math.min(size, EOF_TRAILER_LENGTH));
  const trailerStart = size - trailer.length;
  let rdbVersion = 0;
  let rdbMagic: RdbMagic = 'REDIS';
  let checksummed = false;
  let offset = 0;

  // One buffer reused for every read: a stream would allocate a fresh chunk
  // each time, and a 100 MB fixture would then sit in the runner's RSS until
  // the garbage collector got round to it.
  const buffer = Buffer.allocUnsafe(opts.readChunkBytes ?? 1 << 20);
  let fh: FileHandle | undefined;
  try {
    fh = await open(absolute, 'r');
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const data = buffer.subarray(0, bytesRead);
      const chunkStart = offset;
      const chunkEnd = offset + data.length;
      if (chunkEnd > size) {
        throw bad(
          `grew while it was being read (expected ${size} bytes). ` +
            'Wait until whatever writes it has finished, then run again.',
        );
      }
      sha.update(data);
      if (chunkStart < HEADER_LENGTH) {
        data.copy(header, chunkStart, 0, Math.min(data.length, HEADER_LENGTH - chunkStart));
        if (chunkEnd >= HEADER_LENGTH) {
          ({ magic: rdbMagic, version: rdbVersion } = parseHeader(header, maxRdbVersion, bad));
          checksummed = rdbVersion >= FIRST_CHECKSUMMED_VERSION;
        }
      }
      // Everything before the 8 checksum bytes is covered by the CRC, the EOF opcode included.
      const crcEnd = Math.min(chunkEnd, size - CHECKSUM_LENGTH);
      if (crcEnd > chunkStart) crc.update(data, 0, crcEnd - chunkStart);
      if (chunkEnd > trailerStart) {
        const from = Math.max(trailerStart, chunkStart);
        data.copy(trailer, from - trailerStart, from - chunkStart);
      }
      offset = chunkEnd;
    }
  } catch (err) {
    if (isKubecacheError(err)) throw err;
    throw new KubecacheError(
      'BAD_FIXTURE',
      `Could not read RDB fixture ${absolute}: ${(err as Error).message}. ` +
        'Check that the file is readable by the user running the tests.',
      { path: absolute, ioError: (err as NodeJS.ErrnoException).code ?? 'unknown' },
      { cause: err },
    );
  } finally {
    await fh?.close();
  }

  if (offset !== size) {
    throw bad(
      `shrank while it was being read (${offset} of ${size} bytes). ` +
        'Wait until whatever writes it has finished, then run again.',
    );
  }

  if (checksummed) {
    if (size < HEADER_LENGTH + EOF_TRAILER_LENGTH || trailer[0] !== EOF_OPCODE) {
      throw bad(
        'is truncated: no EOF marker (0xFF followed by an 8-byte checksum) at its end. ' +
          'Regenerate it and copy it again, in binary mode.',
        { rdbVersion },
      );
    }
    const stored = trailer.readBigUInt64LE(1);
    const computed = crc.digest();
    // A zero checksum is what redis writes with rdbchecksum disabled, and it
    // skips the check on load, so there is nothing to compare against.
    if (stored !== 0n && stored !== computed) {
      throw bad(
        `has a checksum mismatch: it stores CRC-64 ${hex64(stored)} but its ` +
          `contents hash to ${hex64(computed)}. It is corrupt or truncated; regenerate it.`,
        { rdbVersion, stored: hex64(stored), computed: hex64(computed) },
      );
    }
  } else if (trailer[trailer.length - 1] !== EOF_OPCODE) {
    throw bad(
      'is truncated: no EOF marker (0xFF) as its last byte. Regenerate it and copy it again.',
      { rdbVersion },
    );
  }

  return {
    path: absolute,
    size,
    sha256: sha.digest('hex'),
    rdbVersion,
    rdbMagic,
    mtimeMs: stats.mtimeMs,
  };
}

function parseHeader(
  header: Buffer,
  maxRdbVersion: number | undefined,
  bad: (problem: string, details?: Record<string, unknown>) => KubecacheError,
): { magic: RdbMagic; version: number } {
  const text = header.toString('latin1');
  const known = MAGICS.find(({ magic }) => text.startsWith(magic));
  const digits = known ? text.slice(known.magic.length) : '';
  if (!known || !new RegExp(`^[0-9]{${known.digits}}$`).test(digits)) {
    throw bad(
      'is not an RDB file: it should start with "REDIS" and a 4-digit version ' +
        `(or Valkey 9's "VALKEY" and a 3-digit one), but starts with ${JSON.stringify(text)}. ` +
        'Point the fixture option at a dump.rdb written by SAVE or BGSAVE.',
    );
  }
  const format = { magic: known.magic, version: Number(digits) };
  if (format.version < 1) {
    throw bad(`has RDB version ${format.version}, which no server writes: it is corrupt.`, {
      rdbVersion: format.version,
    });
  }
  if (maxRdbVersion !== undefined && format.version > maxRdbVersion) {
    throw bad(
      `is ${rdbLabel(format)} (RDB version ${format.version}), but maxRdbVersion is ${maxRdbVersion}: ` +
        `the image is declared to load versions 1 to ${maxRdbVersion}. ${VERSION_HINT}`,
      { rdbVersion: format.version, rdbMagic: format.magic, maxRdbVersion },
    );
  }
  return format;
}

async function statFixture(absolute: string) {
  let stats: Awaited<ReturnType<typeof stat>>;
  try {
    stats = await stat(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new KubecacheError(
        'BAD_FIXTURE',
        `RDB fixture ${absolute} not found.${await missingFileHint(absolute)} Check the path (relative paths resolve ` +
          `against ${process.cwd()}) or generate the file first.`,
        { path: absolute },
        { cause: err },
      );
    }
    throw new KubecacheError(
      'BAD_FIXTURE',
      `Could not stat RDB fixture ${absolute}: ${(err as Error).message}. ` +
        'Check that the file is readable by the user running the tests.',
      { path: absolute, ioError: code ?? 'unknown' },
      { cause: err },
    );
  }
  if (!stats.isFile()) {
    throw new KubecacheError(
      'BAD_FIXTURE',
      `RDB fixture ${absolute} not found: it is a ${stats.isDirectory() ? 'directory' : 'special file'}, ` +
        'not a regular file. Point the option at the .rdb file itself.',
      { path: absolute },
    );
  }
  return stats;
}

function hex64(value: bigint): string {
  return `0x${value.toString(16).padStart(16, '0')}`;
}

/**
 * Validates each fixture once per content version: many workers sharing one
 * 100 MB fixture should not each hash it. A file is re-checked when its size
 * or mtime changes, which is what rewriting it does.
 */
export class FixtureRegistry {
  private readonly cache = new Map<string, Promise<RdbFixtureInfo>>();
  private readonly options: ValidateRdbOptions;

  constructor(options: ValidateRdbOptions = {}) {
    this.options = { ...options };
  }

  async validate(path: string): Promise<RdbFixtureInfo> {
    const absolute = resolve(path);
    const stats = await statFixture(absolute);
    const key = cacheKey(absolute, stats.size, stats.mtimeMs);
    let pending = this.cache.get(key);
    if (!pending) {
      // The promise, not the result, is cached so concurrent callers share one read.
      pending = validateRdbFixture(absolute, this.options).then((info) => {
        // Rewritten between stat and read: the info describes another version,
        // so do not file it under this key.
        if (cacheKey(info.path, info.size, info.mtimeMs) !== key) this.cache.delete(key);
        return info;
      });
      pending.catch((err: unknown) => {
        // A broken fixture stays broken until rewritten (which changes the
        // key); read errors like EMFILE may pass, so only those are retried.
        if (!isKubecacheError(err, 'BAD_FIXTURE') || err.details.ioError !== undefined) {
          this.cache.delete(key);
        }
      });
      this.cache.set(key, pending);
    }
    return pending;
  }

  /** Number of distinct fixture versions validated or in progress. */
  get size(): number {
    return this.cache.size;
  }

  clear(): void {
    this.cache.clear();
  }
}

function cacheKey(path: string, size: number, mtimeMs: number): string {
  return `${path}\0${size}\0${mtimeMs}`;
}
