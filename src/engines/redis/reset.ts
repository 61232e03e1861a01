import { KubecacheError } from '../../errors.js';
import type { RespArg, RespCommander } from './commander.js';
import { flushRedis } from './flush.js';

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
export async function captureDumps(resp: RespCommander): Promise<DumpedKey[]> {
  const keys: Buffer[] = [];
  let cursor = '0';
  do {
    const [[err, reply]] = (await resp.batch([['SCAN', cursor, 'COUNT', SCAN_COUNT]], {
      buffers: true,
    })) as [[Error | null, [Buffer, Buffer[]]]];
    if (err) throw captureError('SCAN', err);
    cursor = reply[0].toString();
    keys.push(...reply[1]);
  } while (cursor !== '0');
  // SCAN may report a key twice when the table is rehashed mid-scan.
  const unique = [...new Map(keys.map((k) => [k.toString('binary'), k])).values()];
  if (unique.length === 0) return [];

  const commands: RespArg[][] = [];
  for (const key of unique) commands.push(['DUMP', key], ['PTTL', key]);
  const results = await resp.batch(commands, { buffers: true });
  const dumps: DumpedKey[] = [];
  unique.forEach((key, i) => {
    const [dumpErr, payload] = results[2 * i] ?? [];
    const [ttlErr, pttl] = results[2 * i + 1] ?? [];
    const err = dumpErr ?? ttlErr;
    if (err) throw captureError(`key ${JSON.stringify(key.toString())}`, err);
    // Gone between SCAN and DUMP (expired or deleted): nothing to restore.
    if (payload === null || typeof pttl !== 'number' || pttl === -2) return;
    // PTTL answers 0 for a key in its last millisecond; RESTORE would read 0 as "no expiry".
    dumps.push({ key, payload: payload as Buffer, pttl: pttl === -1 ? 0 : Math.max(1, pttl) });
  });
  return dumps;
}

function captureError(what: string, err: Error): KubecacheError {
  return new KubecacheError(
    'INTERNAL',
    `Capturing ${what} for reset failed: ${err.message}.`,
    { what },
    { cause: err },
  );
}

/** Empties the server and writes the captured keys back in one round trip. */
export async function restoreDumps(
  resp: RespCommander,
  dumps: readonly DumpedKey[],
): Promise<void> {
  await flushRedis(resp);
  if (dumps.length === 0) return;
  const results = await resp.batch(
    dumps.map(({ key, payload, pttl }) => ['RESTORE', key, pttl, payload, 'REPLACE']),
  );
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
export async function debugReload(resp: RespCommander): Promise<void> {
  try {
    await resp.call(['DEBUG', 'RELOAD', 'NOSAVE']);
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
