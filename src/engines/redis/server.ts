import { tcpProbe } from '../probe.js';
import type { EngineName, EngineServer } from '../types.js';
import { redisSecurity } from './security.js';
import { loadRedisJsonSeed } from './seed.js';

const PORT = 6379;

/**
 * Flags every seeded cache gets: DEBUG RELOAD resets it to its dump.rdb in
 * well under a millisecond, and a diskless SYNC lets snapshot() stream the
 * dataset without overwriting that dump.rdb.
 */
export const SEEDED_REDIS_ARGS = ['--enable-debug-command', 'yes', '--repl-diskless-sync', 'yes'];

/** What differs between servers that speak the redis protocol (redis, Valkey). */
export interface RespServerSpec {
  name: EngineName;
  /** The server binary in the image. */
  binary: string;
  defaultImage: string;
  containerName: string;
  /** Highest RDB version the default image loads; redis 7.0's 10 when left out. */
  maxRdbVersion?: number;
}

/**
 * A server speaking the redis protocol on 6379. Any server that answers
 * `PING` with `+PONG` works, so other images of the same family can be used
 * by setting `image`.
 */
export function respServer(spec: RespServerSpec): EngineServer {
  const { name } = spec;
  return {
    name,
    defaultImage: spec.defaultImage,
    port: PORT,
    containerName: spec.containerName,
    urlScheme: 'redis',
    tlsUrlScheme: 'rediss',
    dataDir: '/data',
    rdbSeeds: true,
    ...(spec.maxRdbVersion ? { maxRdbVersion: spec.maxRdbVersion } : {}),
    seededArgs: SEEDED_REDIS_ARGS,
    loadJsonSeed: loadRedisJsonSeed,
    command({ args }) {
      return [
        spec.binary,
        '--port',
        String(PORT),
        // Persistence only slows a throwaway cache down.
        '--save',
        '',
        '--appendonly',
        'no',
        // Without a config file the server binds everywhere in protected mode
        // and refuses non-loopback clients, which breaks the pod-IP endpoint.
        '--protected-mode',
        'no',
        // snapshot() reads the dataset as a replica would (SYNC): stream it
        // straight away instead of after the default 5 s wait for more replicas.
        '--repl-diskless-sync-delay',
        '0',
        ...args,
      ];
    },
    // Valkey reads the same ACL file and TLS flags as redis.
    security: redisSecurity,
    probe(host, port, timeoutMs, opts) {
      return tcpProbe({
        ...(opts?.tls ? { tls: opts.tls } : {}),
        engine: name,
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
}

/** Redis; a Valkey image also works here (it ships `redis-server`), but see the valkey engine. */
export const redisServer: EngineServer = respServer({
  name: 'redis',
  binary: 'redis-server',
  defaultImage: 'redis:7-alpine',
  containerName: 'redis',
});
