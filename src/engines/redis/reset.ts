import type { Redis } from 'ioredis';
import { KubecacheError } from '../../errors.js';
import { flushRedis } from './client.js';

/** One key as DUMP serialises it; keys are Buffers so binary names survive. */
export interface DumpedKey {
  key: Buffer;
  payload: Buffer;
  /** Remaining time to live at capture in ms, or 0 for a key without expiry. */
  pttl: number;
}

const SCAN_COUNT = 1000;

/**
 * Snapshots every key of the selected database as DUMP payloads, so the
 * seeded state can be put back between tests without re-running the seed.
 * TTLs are recorded as they stood at capture; a restore restarts them from there.
 */
export async function captureDumps(client: Redis): Promise<DumpedKey[]> {
  const keys: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scanBuffer(cursor, 'COUNT', SCAN_COUNT);
    cursor = next.toString();
    keys.push(...batch);
  } while (cursor !== '0');
  // SCAN may report a key twice when the table is rehashed mid-scan.
  const unique = [...new Map(keys.map((k) => [k.toString('binary'), k])).values()];
  if (unique.length === 0) return [];

  const pipeline = client.pipeline();
  for (const key of unique) {
    pipeline.dumpBuffer(key);
    pipeline.pttl(key);
  }
  const results = (await pipeline.exec()) ?? [];
  const dumps: DumpedKey[] = [];
  unique.forEach((key, i) => {
    const [dumpErr, payload] = results[2 * i] ?? [];
    const [ttlErr, pttl] = results[2 * i + 1] ?? [];
    const err = dumpErr ?? ttlErr;
    if (err) {
      throw new KubecacheError(
        'INTERNAL',
        `Capturing key ${JSON.stringify(key.toString())} for reset failed: ${err.message}.`,
        { key: key.toString() },
        { cause: err },
      );
    }
    // Gone between SCAN and DUMP (expired or deleted): nothing to restore.
    if (payload === null || typeof pttl !== 'number' || pttl === -2) return;
    // PTTL answers 0 for a key in its last millisecond; RESTORE would read 0 as "no expiry".
    dumps.push({ key, payload: payload as Buffer, pttl: pttl === -1 ? 0 : Math.max(1, pttl) });
  });
  return dumps;
}

/** Empties the server and writes the captured keys back in one round trip. */
export async function restoreDumps(client: Redis, dumps: readonly DumpedKey[]): Promise<void> {
  await flushRedis(client);
  if (dumps.length === 0) return;
  const pipeline = client.pipeline();
  for (const { key, payload, pttl } of dumps) pipeline.restore(key, pttl, payload, 'REPLACE');
  const results = (await pipeline.exec()) ?? [];
  const index = results.findIndex(([err]) => err !== null);
  if (index !== -1) {
    const err = results[index]?.[0] as Error;
    const key = dumps[index]?.key.toString();
    throw new KubecacheError(
      'INTERNAL',
      `Restoring key ${JSON.stringify(key)} failed: ${err.message}. ` +
        'DUMP payloads only load into the same or a newer redis version than the one that made them.',
      { key },
      { cause: err },
    );
  }
}

/**
 * Reloads the dataset from the RDB file redis started with, discarding every
 * change since. Fast for large fixtures, but redis only allows DEBUG when
 * started with --enable-debug-command.
 */
export async function debugReload(client: Redis): Promise<void> {
  try {
    await client.call('DEBUG', 'RELOAD', 'NOSAVE');
  } catch (err) {
    const message = (err as Error).message;
    if (/DEBUG command not allowed/i.test(message)) {
      throw new KubecacheError(
        'BAD_OPTION',
        'The debug-reload reset needs the DEBUG command, which this redis refuses ' +
          `("${message}"). Add "--enable-debug-command yes" to the redis args ` +
          '(DEBUG is off by default since redis 7.0), or pick another reset strategy.',
        { strategy: 'debug-reload' },
        { cause: err },
      );
    }
    throw new KubecacheError(
      'INTERNAL',
      `DEBUG RELOAD NOSAVE failed: ${message}. It reloads the RDB file redis started with, ` +
        'so it only works when the cache was seeded from an RDB fixture.',
      { strategy: 'debug-reload' },
      { cause: err },
    );
  }
}
