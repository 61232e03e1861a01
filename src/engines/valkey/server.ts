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
  // Valkey 8 writes and loads RDB 11 (redis 7.2's format), so its own
  // snapshots can seed it.
  maxRdbVersion: 11,
});
