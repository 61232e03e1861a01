import { tcpProbe } from '../probe.js';
import type { EngineServer } from '../types.js';
import { loadMemcachedJsonSeed } from './seed.js';

const PORT = 11211;

export const memcachedServer: EngineServer = {
  name: 'memcached',
  defaultImage: 'memcached:1.6-alpine',
  port: PORT,
  containerName: 'memcached',
  // No dump format: seeds are JSON, re-applied on reset.
  rdbSeeds: false,
  seededArgs: [],
  loadJsonSeed: loadMemcachedJsonSeed,
  command({ args }) {
    // UDP is off: it is unused by clients here and has been an amplification vector.
    return ['memcached', '-p', String(PORT), '-U', '0', ...args];
  },
  probe(host, port, timeoutMs) {
    return tcpProbe({
      engine: 'memcached',
      host,
      port,
      timeoutMs,
      request: 'version\r\n',
      expected: '"VERSION <n>" in reply to "version"',
      judge(reply) {
        const end = reply.indexOf('\r\n');
        if (end === -1) return 'VERSION '.startsWith(reply.slice(0, 8)) ? 'wait' : 'wrong';
        return reply.startsWith('VERSION ') ? 'ok' : 'wrong';
      },
    });
  },
};
