/**
 * CRC-64 as Redis computes it for RDB files and DUMP payloads: the Jones
 * polynomial, reflected input and output, initial value 0, no final xor
 * ("crc64-jones"; check value for "123456789" is 0xe9c6d914c4b8d9ca).
 *
 * The 64-bit state is kept as two unsigned 32-bit halves instead of a BigInt:
 * fixtures can be hundreds of megabytes and BigInt arithmetic per byte is an
 * order of magnitude slower than plain number operations.
 */

// 0xad93d23594c935a9 with its bits reversed, as the reflected algorithm needs.
const POLY_HI = 0x95ac9329;
const POLY_LO = 0xac4bc9b5;

const TABLE_HI = new Uint32Array(256);
const TABLE_LO = new Uint32Array(256);

for (let i = 0; i < 256; i++) {
  let hi = 0;
  let lo = i;
  for (let bit = 0; bit < 8; bit++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi >>>= 1;
    if (carry) {
      hi = (hi ^ POLY_HI) >>> 0;
      lo = (lo ^ POLY_LO) >>> 0;
    }
  }
  TABLE_HI[i] = hi;
  TABLE_LO[i] = lo;
}

/** Incremental CRC-64/Jones so a file can be checked chunk by chunk while streaming. */
export class Crc64 {
  private hi = 0;
  private lo = 0;

  update(data: Uint8Array, start = 0, end = data.length): this {
    let hi = this.hi;
    let lo = this.lo;
    for (let i = start; i < end; i++) {
      const index = (lo ^ (data[i] as number)) & 0xff;
      lo = (((lo >>> 8) | (hi << 24)) ^ (TABLE_LO[index] as number)) >>> 0;
      hi = ((hi >>> 8) ^ (TABLE_HI[index] as number)) >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
    return this;
  }

  digest(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

export function crc64(data: Uint8Array): bigint {
  return new Crc64().update(data).digest();
}
