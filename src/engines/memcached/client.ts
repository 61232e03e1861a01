import debug from 'debug';
import memjs from 'memjs';
import { KubecacheError } from '../../errors.js';
import type { Endpoint } from '../types.js';

export type MemcachedClient = memjs.Client;

const log = debug('kubecache:memcached');

/**
 * A memjs client with timeouts raised above memjs's 0.5s default: traffic
 * through a Kubernetes port-forward adds noticeable latency, and a spurious
 * timeout fails the user's test.
 */
export function createMemcachedClient(
  endpoint: Endpoint,
  extra: memjs.ClientOptions & memjs.ServerOptions = {},
): MemcachedClient {
  const serverOptions: memjs.ServerOptions = {
    timeout: 2,
    conntimeout: 4,
    ...pick(extra, [
      'username',
      'password',
      'timeout',
      'conntimeout',
      'keepAlive',
      'keepAliveDelay',
    ]),
  };
  // Built from a Server object rather than a "host:port" string, which memjs
  // splits on ':' and so cannot carry an IPv6 address.
  const server = new memjs.Server(
    endpoint.host,
    endpoint.port,
    serverOptions.username,
    serverOptions.password,
    serverOptions,
  );
  return new memjs.Client([server], {
    retries: 2,
    retry_delay: 0.1,
    // memjs logs every failed retry to console by default, which clutters test output.
    logger: { log: (...args: unknown[]) => log('%s', args.join(' ')) },
    ...extra,
  });
}

/** memcached holds no state worth a graceful goodbye, so the sockets are simply closed. */
export async function closeMemcachedClient(client: MemcachedClient): Promise<void> {
  client.close();
}

export async function flushMemcached(client: MemcachedClient): Promise<void> {
  try {
    await client.flush();
  } catch (err) {
    const where = client.servers.map((s) => `${s.host}:${s.port}`).join(', ');
    throw new KubecacheError(
      'UNREACHABLE',
      `flush_all on memcached at ${where} failed: ${(err as Error).message}. ` +
        'The cache pod may have been deleted or its port-forward dropped; check the pod and rerun.',
      { engine: 'memcached', servers: where },
      { cause: err },
    );
  }
}

function pick<T extends object, K extends keyof T>(source: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) {
    if (source[key] !== undefined) out[key] = source[key];
  }
  return out;
}
