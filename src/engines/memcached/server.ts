import { tcpProbe } from '../probe.js';
import type { EngineServer } from '../types.js';
import { memcachedSecurity } from './security.js';
import { loadMemcachedJsonSeed } from './seed.js';

const PORT = 11211;
/** 24-byte binary header: magic 0x80, opcode 0x0b (VERSION), everything else zero. */
const BINARY_VERSION_REQUEST = String.fromCharCode(0x80, 0x0b, ...new Array<number>(22).fill(0));

export const memcachedServer: EngineServer = {
  name: 'memcached',
  defaultImage: 'memcached:1.6-alpine',
  port: PORT,
  containerName: 'memcached',
  urlScheme: 'memcached',
  // No dump format: seeds are JSON, re-applied on reset.
  rdbSeeds: false,
  seededArgs: [],
  loadJsonSeed: loadMemcachedJsonSeed,
  command({ args }) {
    // UDP is off: it is unused by clients here and has been an amplification vector.
    return ['memcached', '-p', String(PORT), '-U', '0', ...args];
  },
  security: memcachedSecurity,
  probe(host, port, timeoutMs, opts) {
    // With SASL on, memcached speaks only the binary protocol: a binary
    // VERSION request gets a binary reply (an auth error before login), which
    // proves the server is up.
    if (opts?.auth) {
      return tcpProbe({
        engine: 'memcached',
        host,
        port,
        timeoutMs,
        request: BINARY_VERSION_REQUEST,
        expected: 'a binary-protocol reply (magic 0x81) to VERSION',
        judge(reply) {
          if (reply.length === 0) return 'wait';
          return reply.charCodeAt(0) === 0x81 ? 'ok' : 'wrong';
        },
      });
    }
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
