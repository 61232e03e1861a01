import { KubecacheError } from '../../errors.js';
import type { RespCommander } from './commander.js';

/** Empties every database of the server (a reset without a seed). */
export async function flushRedis(resp: RespCommander): Promise<void> {
  try {
    await resp.call(['FLUSHALL']);
  } catch (err) {
    throw new KubecacheError(
      'UNREACHABLE',
      `FLUSHALL on redis at ${resp.where} failed: ${(err as Error).message}. ` +
        'The cache pod may have been deleted or its port-forward dropped; check the pod and rerun.',
      { engine: 'redis', where: resp.where },
      { cause: err },
    );
  }
}
