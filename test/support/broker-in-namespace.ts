import { Broker } from '../../src/broker/broker.js';
import { startBrokerApi } from '../../src/broker/http-api.js';
import { BrokerClient } from '../../src/worker/broker-client.js';
import { adminKubeconfigPath, deleteNamespace, ensureNamespace } from './cluster.js';

// Integration tests that open caches the way a test worker does need the same
// three pieces: a broker on the dev cluster confined to the test's namespace,
// its HTTP API, and a worker's BrokerClient of that API. One copy here keeps
// their start and their cleanup (also of a start that failed halfway) alike.

export interface BrokerInNamespace {
  broker: Broker;
  /** What a test worker holds: openCache's `broker` option. */
  client: BrokerClient;
}

/**
 * A broker in namespace `ns` with the admin kubeconfig (plus `env`), served
 * over its HTTP API. Call start() in beforeAll and stop() in afterAll: stop()
 * closes the API and tears the broker down as far as start() got, then
 * deletes the namespace.
 */
export function brokerInNamespace(
  ns: string,
  env: NodeJS.ProcessEnv = {},
): { start(): Promise<BrokerInNamespace>; stop(): Promise<void> } {
  let broker: Broker | undefined;
  let closeApi: (() => Promise<void>) | undefined;
  return {
    async start() {
      await ensureNamespace(ns);
      broker = await Broker.start({
        progress: () => {},
        env: { KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: ns, ...env },
      });
      const api = await startBrokerApi(broker);
      const client = new BrokerClient(api.url, api.token);
      closeApi = api.close;
      return { broker, client };
    },
    async stop() {
      await closeApi?.();
      await broker?.teardown();
      await deleteNamespace(ns);
    },
  };
}
