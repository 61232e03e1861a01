import { type FileHandle, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KubecacheError } from '../errors.js';

/**
 * What an RDB file holds, read without loading it into redis: `kubecache
 * check` prints it. Validity (magic, version, checksum, truncation) is
 * validateRdbFixture's job; this walks the key/value records to count keys
 * by type. Values are skipped, not decoded, so a 100 MB fixture costs one
 * read and a small buffer.
 */
export interface RdbSummary {
  rdbVersion: number;
  /** Key count over all databases. */
  keys: number;
  /** Keys per redis TYPE name (string, list, set, zset, hash, stream, module). */
  types: Record<string, number>;
  /** Keys with an expiry. */
  expiring: number;
  /** Keys per database number. */
  databases: Record<string, number>;
  /** Auxiliary fields (redis-ver, ctime, used-mem, ...). */
  aux: Record<string, string>;
  /** Redis functions libraries stored in the file. */
  functions: number;
  /** The stored CRC-64 as hex; 0 means the writer disabled checksums. Absent before RDB 5. */
  storedChecksum?: string;
  /** False when a record this reader does not know stopped the walk; `note` says which. */
  complete: boolean;
  note?: string;
}

// Value types (rdb.h). Several encodings share one user-visible TYPE.
const VALUE_TYPES: Record<number, string> = {
  0: 'string',
  1: 'list',
  2: 'set',
  3: 'zset',
  4: 'hash',
  5: 'zset',
  7: 'module',
  9: 'hash',
  10: 'list',
  11: 'set',
  12: 'zset',
  13: 'hash',
  14: 'list',
  15: 'stream',
  16: 'hash',
  17: 'zset',
  18: 'list',
  19: 'stream',
  20: 'set',
  21: 'stream',
  22: 'hash',
  23: 'hash',
  24: 'hash',
  25: 'hash',
};

const OP = {
  SLOT_INFO: 0xf4,
  FUNCTION2: 0xf6,
  MODULE_AUX: 0xf7,
  IDLE: 0xf8,
  FREQ: 0xf9,
  AUX: 0xfa,
  RESIZEDB: 0xfb,
  EXPIRETIME_MS: 0xfc,
  EXPIRETIME: 0xfd,
  SELECTDB: 0xfe,
  EOF: 0xff,
} as const;

const ENC_INT8 = 0;
const ENC_INT16 = 1;
const ENC_INT32 = 2;
const ENC_LZF = 3;

/** Thrown inside the walk for a record this reader cannot skip. */
class Unsupported extends Error {}

/** Sequential reads over a file through one reused buffer. */
class Reader {
  private buf: Buffer;
  private start = 0;
  private end = 0;
  private eof = false;
  /** Absolute offset of the next unread byte. */
  offset = 0;

  constructor(
    private readonly fh: FileHandle,
    chunk: number,
  ) {
    this.buf = Buffer.allocUnsafe(chunk);
  }

  private async fill(n: number): Promise<void> {
    if (this.end - this.start >= n) return;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(n);
      this.buf.copy(bigger, 0, this.start, this.end);
      this.buf = bigger;
    } else {
      this.buf.copy(this.buf, 0, this.start, this.end);
    }
    this.end -= this.start;
    this.start = 0;
    while (this.end < n && !this.eof) {
      const { bytesRead } = await this.fh.read(
        this.buf,
        this.end,
        this.buf.length - this.end,
        null,
      );
      if (bytesRead === 0) this.eof = true;
      this.end += bytesRead;
    }
    if (this.end < n) throw new Unsupported(`the file ends inside a record at byte ${this.offset}`);
  }

  async bytes(n: number): Promise<Buffer> {
    await this.fill(n);
    const out = Buffer.from(this.buf.subarray(this.start, this.start + n));
    this.start += n;
    this.offset += n;
    return out;
  }

  async u8(): Promise<number> {
    await this.fill(1);
    this.offset += 1;
    return this.buf[this.start++] as number;
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.end === this.start) await this.fill(1);
      const take = Math.min(left, this.end - this.start);
      this.start += take;
      this.offset += take;
      left -= take;
    }
  }
}

type Length = { len: number } | { encoding: number };

async function readLength(r: Reader): Promise<Length> {
  const first = await r.u8();
  switch (first >> 6) {
    case 0:
      return { len: first & 0x3f };
    case 1:
      return { len: ((first & 0x3f) << 8) | (await r.u8()) };
    case 2:
      if (first === 0x80) return { len: (await r.bytes(4)).readUInt32BE() };
      if (first === 0x81) return { len: Number((await r.bytes(8)).readBigUInt64BE()) };
      throw new Unsupported(
        `an unknown length prefix 0x${first.toString(16)} at byte ${r.offset - 1}`,
      );
    default:
      return { encoding: first & 0x3f };
  }
}

async function len(r: Reader): Promise<number> {
  const l = await readLength(r);
  if ('len' in l) return l.len;
  throw new Unsupported(`an encoded value where a length belongs, at byte ${r.offset - 1}`);
}

/** Skips one string; returns it when `keep` is set (small fields only). */
async function string(r: Reader, keep = false): Promise<Buffer | undefined> {
  const l = await readLength(r);
  if ('len' in l) {
    if (keep) return r.bytes(l.len);
    await r.skip(l.len);
    return undefined;
  }
  const ints: Record<number, number> = { [ENC_INT8]: 1, [ENC_INT16]: 2, [ENC_INT32]: 4 };
  const width = ints[l.encoding];
  if (width !== undefined) {
    const raw = await r.bytes(width);
    return keep ? Buffer.from(String(raw.readIntLE(0, width))) : undefined;
  }
  if (l.encoding === ENC_LZF) {
    const compressed = await len(r);
    const plain = await len(r);
    if (!keep) {
      await r.skip(compressed);
      return undefined;
    }
    return lzfDecompress(await r.bytes(compressed), plain);
  }
  throw new Unsupported(`an unknown string encoding ${l.encoding} at byte ${r.offset - 1}`);
}

/** LZF as redis writes it (lzf_d.c), for the few short fields that are shown. */
export function lzfDecompress(input: Buffer, outLength: number): Buffer {
  const out = Buffer.alloc(outLength);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    const ctrl = input[ip++] as number;
    if (ctrl < 32) {
      const n = ctrl + 1;
      if (op + n > outLength || ip + n > input.length)
        throw new Unsupported('a corrupt LZF string');
      input.copy(out, op, ip, ip + n);
      ip += n;
      op += n;
      continue;
    }
    let n = ctrl >> 5;
    let ref = op - ((ctrl & 0x1f) << 8) - 1;
    if (n === 7) n += input[ip++] as number;
    ref -= input[ip++] as number;
    n += 2;
    if (ref < 0 || op + n > outLength) throw new Unsupported('a corrupt LZF string');
    for (let i = 0; i < n; i++) out[op++] = out[ref++] as number;
  }
  return out;
}

async function moduleValue(r: Reader): Promise<void> {
  // Module values written with the typed API end with opcode EOF (0).
  for (let i = 0; ; i++) {
    const op = await len(r);
    if (op === 0) return;
    if (op === 1 || op === 2) await len(r);
    else if (op === 3) await r.skip(4);
    else if (op === 4) await r.skip(8);
    else if (op === 5) await string(r);
    else throw new Unsupported(`module data with an unknown opcode ${op}`);
    if (i > 1e9) throw new Unsupported('a module value that never ends');
  }
}

async function stream(r: Reader, type: number): Promise<void> {
  const nodes = await len(r);
  for (let i = 0; i < nodes; i++) {
    await string(r);
    await string(r);
  }
  await len(r); // length
  await len(r); // last id ms
  await len(r); // last id seq
  if (type >= 19) {
    for (let i = 0; i < 5; i++) await len(r); // first id, max deleted id, entries added
  }
  const groups = await len(r);
  for (let g = 0; g < groups; g++) {
    await string(r);
    await len(r);
    await len(r);
    if (type >= 19) await len(r); // entries read
    const pel = await len(r);
    for (let i = 0; i < pel; i++) {
      await r.skip(16 + 8); // entry id, delivery time
      await len(r); // delivery count
    }
    const consumers = await len(r);
    for (let c = 0; c < consumers; c++) {
      await string(r);
      await r.skip(type >= 21 ? 16 : 8); // seen time (and active time)
      const owned = await len(r);
      await r.skip(owned * 16);
    }
  }
}

async function value(r: Reader, type: number): Promise<void> {
  switch (type) {
    case 0:
    case 9:
    case 10:
    case 11:
    case 12:
    case 13:
    case 16:
    case 17:
    case 20:
    case 23:
      // A plain string, or a ziplist/listpack/intset blob stored as one.
      await string(r);
      return;
    case 1:
    case 2:
    case 14: {
      const n = await len(r);
      for (let i = 0; i < n; i++) await string(r);
      return;
    }
    case 18: {
      const n = await len(r);
      for (let i = 0; i < n; i++) {
        await len(r); // container: plain or packed
        await string(r);
      }
      return;
    }
    case 3: {
      const n = await len(r);
      for (let i = 0; i < n; i++) {
        await string(r);
        const d = await r.u8();
        if (d < 253) await r.skip(d); // 253-255: NaN, +inf, -inf
      }
      return;
    }
    case 5: {
      const n = await len(r);
      for (let i = 0; i < n; i++) {
        await string(r);
        await r.skip(8);
      }
      return;
    }
    case 4: {
      const n = await len(r);
      for (let i = 0; i < 2 * n; i++) await string(r);
      return;
    }
    case 22:
    case 24: {
      // Hash with field expiry (redis 7.4+): [min expiry], then ttl, field, value.
      if (type === 24) await r.skip(8);
      const n = await len(r);
      for (let i = 0; i < n; i++) {
        await len(r);
        await string(r);
        await string(r);
      }
      return;
    }
    case 25:
      await r.skip(8);
      await string(r);
      return;
    case 7:
      await len(r); // module id
      await moduleValue(r);
      return;
    case 15:
    case 19:
    case 21:
      await stream(r, type);
      return;
    default:
      throw new Unsupported(`a value of RDB type ${type}, which this reader does not know`);
  }
}

export interface SummarizeOptions {
  /** Read size; only tests change it, to put chunk edges inside records. */
  readChunkBytes?: number;
}

/** Walks an RDB file's records; call validateRdbFixture first for the integrity checks. */
export async function summarizeRdb(path: string, opts: SummarizeOptions = {}): Promise<RdbSummary> {
  const absolute = resolve(path);
  let fh: FileHandle;
  try {
    fh = await open(absolute, 'r');
  } catch (err) {
    throw new KubecacheError(
      'BAD_FIXTURE',
      `Could not open RDB file ${absolute}: ${(err as Error).message}. Check the path.`,
      { path: absolute },
      { cause: err },
    );
  }
  const r = new Reader(fh, opts.readChunkBytes ?? 1 << 20);
  const summary: RdbSummary = {
    rdbVersion: 0,
    keys: 0,
    types: {},
    expiring: 0,
    databases: {},
    aux: {},
    functions: 0,
    complete: true,
  };
  try {
    const header = (await r.bytes(9)).toString('latin1');
    // Valkey 9 writes its own magic (VALKEY080); a record this reader does not
    // know ends the count with a note, as for any newer format.
    const magic = /^(?:REDIS([0-9]{4})|VALKEY([0-9]{3}))$/.exec(header);
    if (!magic) {
      throw new KubecacheError(
        'BAD_FIXTURE',
        `${absolute} is not an RDB file: it starts with ${JSON.stringify(header)}, not "REDIS" and a 4-digit version or "VALKEY" and a 3-digit one.`,
        { path: absolute },
      );
    }
    summary.rdbVersion = Number(magic[1] ?? magic[2]);
    let db = 0;
    let expires = false;
    for (;;) {
      const op = await r.u8();
      if (op === OP.EOF) {
        if (summary.rdbVersion >= 5) {
          summary.storedChecksum = `0x${(await r.bytes(8)).readBigUInt64LE().toString(16).padStart(16, '0')}`;
        }
        break;
      }
      if (op === OP.AUX) {
        const key = (await string(r, true))?.toString('utf8') ?? '';
        const val = await string(r, true);
        summary.aux[key] = val?.toString('utf8') ?? '';
      } else if (op === OP.SELECTDB) {
        db = await len(r);
      } else if (op === OP.RESIZEDB) {
        await len(r);
        await len(r);
      } else if (op === OP.EXPIRETIME_MS) {
        await r.skip(8);
        expires = true;
      } else if (op === OP.EXPIRETIME) {
        await r.skip(4);
        expires = true;
      } else if (op === OP.FREQ) {
        await r.skip(1);
      } else if (op === OP.IDLE) {
        await len(r);
      } else if (op === OP.FUNCTION2) {
        await string(r);
        summary.functions += 1;
      } else if (op === OP.MODULE_AUX) {
        await len(r); // module id
        await len(r); // when opcode
        await len(r); // when
        await moduleValue(r);
      } else if (op === OP.SLOT_INFO) {
        for (let i = 0; i < 3; i++) await len(r);
      } else if (VALUE_TYPES[op] !== undefined) {
        await string(r); // the key
        await value(r, op);
        const type = VALUE_TYPES[op] as string;
        summary.keys += 1;
        summary.types[type] = (summary.types[type] ?? 0) + 1;
        summary.databases[String(db)] = (summary.databases[String(db)] ?? 0) + 1;
        if (expires) summary.expiring += 1;
        expires = false;
      } else {
        throw new Unsupported(
          `an unknown record type 0x${op.toString(16)} at byte ${r.offset - 1}`,
        );
      }
    }
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err;
    summary.complete = false;
    summary.note = `Counted up to ${err.message}; the counts cover the records before it.`;
  } finally {
    await fh.close();
  }
  return summary;
}
