import { tcpProbe } from '../probe.js';
import type { EngineServer } from '../types.js';
import { redisSecurity } from './security.js';
import { loadRedisJsonSeed } from './seed.js';

const PORT = 6379;

/**
 * Redis engine. Any server that answers `PING` with `+PONG` on 6379 works, so
 * a Valkey image (e.g. `valkey/valkey:8-alpine`) can be used by setting
 * `image`; it ships `redis-server` as an alias of `valkey-server`.
 */
/**
 * Flags every seeded cache gets: DEBUG RELOAD resets it to its dump.rdb in
 * well under a millisecond, and a diskless SYNC lets snapshot() stream the
 * dataset without overwriting that dump.rdb.
 */
export const SEEDED_REDIS_ARGS = ['--enable-debug-command', 'yes', '--repl-diskless-sync', 'yes'];

export const redisServer: EngineServer = {
  name: 'redis',
  defaultImage: 'redis:7-alpine',
  port: PORT,
  containerName: 'redis',
  dataDir: '/data',
  rdbSeeds: true,
  seededArgs: SEEDED_REDIS_ARGS,
  loadJsonSeed: loadRedisJsonSeed,
  command({ args }) {
    return [
      'redis-server',
      '--port',
      String(PORT),
      // Persistence only slows a throwaway cache down.
      '--save',
      '',
      '--appendonly',
      'no',
      // Without a config file Redis binds everywhere in protected mode and
      // refuses non-loopback clients, which breaks the pod-IP endpoint.
      '--protected-mode',
      'no',
      // snapshot() reads the dataset as a replica would (SYNC): stream it
      // straight away instead of after the default 5 s wait for more replicas.
      '--repl-diskless-sync-delay',
      '0',
      ...args,
    ];
  },
  security: redisSecurity,
  probe(host, port, timeoutMs, opts) {
    return tcpProbe({
      ...(opts?.tls ? { tls: opts.tls } : {}),
      engine: 'redis',
      host,
      port,
      timeoutMs,
      request: 'PING\r\n',
      expected: '"+PONG" in reply to PING',
      judge(reply) {
        const end = reply.indexOf('\r\n');
        if (end === -1)
          return reply.length > 0 && !'+-'.includes(reply[0] ?? '') ? 'wrong' : 'wait';
        const line = reply.slice(0, end);
        if (line === '+PONG') return 'ok';
        // A password (kubecache's ACL or one set through `args`) makes PING
        // fail with NOAUTH, yet the server is up; authenticating is the
        // client's job, not the probe's.
        if (line.startsWith('-NOAUTH')) return 'ok';
        if (line.startsWith('-LOADING') || line.startsWith('-BUSY')) return 'busy';
        return 'wrong';
      },
    });
  },
};
