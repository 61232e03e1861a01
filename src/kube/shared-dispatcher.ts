import { createHash } from 'node:crypto';
import type { KubeConfig } from './client-node.js';

/** The part of client-node's KubeConfig this file replaces (private in its typings). */
interface DispatcherFactory {
  createDispatcher?: (cluster: ClusterLike | null, agentOptions: AgentOptionsLike) => unknown;
}
interface ClusterLike {
  server?: string;
  proxyUrl?: string;
}
interface AgentOptionsLike {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  passphrase?: unknown;
  rejectUnauthorized?: unknown;
  servername?: unknown;
}

/**
 * Makes every API call of this KubeConfig share keep-alive connections.
 *
 * client-node 2.x builds a new undici Agent for every request (its
 * applySecurityAuthentication calls createDispatcher each time), so every
 * call opens a TCP connection, parses the client key and certificate again
 * and does a full TLS handshake. A run makes dozens of calls in the test
 * runner's main process while the workers boot: on the dev cluster, 46 calls
 * took 650–800 ms of CPU that way and 330–420 ms with one shared agent.
 *
 * The agent is kept per TLS identity (server, proxy, CA, client certificate
 * and key, verification settings), so credentials that change (an exec
 * plugin's rotated certificate) get an agent of their own. Headers (bearer
 * tokens) are set per request by client-node and are not affected. Idle
 * connections do not keep the process alive (undici unrefs them), and a
 * connection the API server dropped (a restart) is replaced on the next
 * call; a call caught by the drop fails as a connection error, which
 * apiCall retries like any other.
 *
 * If a client-node version no longer has createDispatcher, nothing changes
 * and calls work as before, only slower.
 */
export function shareDispatchers(kc: KubeConfig): void {
  const factory = kc as unknown as DispatcherFactory;
  const create = factory.createDispatcher;
  if (typeof create !== 'function') return;
  const made = new Map<string, unknown>();
  factory.createDispatcher = (cluster, agentOptions) => {
    const key = identity(cluster, agentOptions);
    if (!made.has(key)) made.set(key, create.call(kc, cluster, agentOptions));
    return made.get(key);
  };
}

/** A digest of everything that makes two agents interchangeable. */
function identity(cluster: ClusterLike | null, o: AgentOptionsLike): string {
  const hash = createHash('sha256');
  const parts = [
    cluster?.server,
    cluster?.proxyUrl,
    o.ca,
    o.cert,
    o.key,
    o.pfx,
    o.passphrase,
    o.rejectUnauthorized,
    o.servername,
  ];
  for (const part of parts) {
    // Buffers (CA and key data) hash by content; undefined and false stay apart.
    hash.update(Buffer.isBuffer(part) ? part : JSON.stringify(part ?? null));
    hash.update('\0');
  }
  return hash.digest('hex');
}
