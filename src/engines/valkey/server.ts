import { respServer } from '../redis/server.js';
import type { EngineServer } from '../types.js';

/**
 * Valkey: the redis protocol, RDB format and commands kubecache relies on
 * (DEBUG RELOAD, SYNC, DUMP/RESTORE), so it shares the redis folder's seed,
 * reset and snapshot code and differs only in its binary and image.
 */
export const valkeyServer: EngineServer = respServer({
  name: 'valkey',
  binary: 'valkey-server',
  defaultImage: 'valkey/valkey:8-alpine',
  containerName: 'valkey',
});
