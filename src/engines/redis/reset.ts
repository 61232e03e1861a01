import type { Redis } from 'ioredis';
import { KubecacheError } from '../../errors.js';

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
