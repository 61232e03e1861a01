import { CoreV1Api } from '@kubernetes/client-node';
import { DEFAULT_API_POLICY } from '../../src/kube/api-call.js';
import type { KubeHandle } from '../../src/kube/client.js';
import { ServerClock } from '../../src/kube/server-clock.js';
import { adminKubeConfig } from './cluster.js';

// Tests that call src/kube functions (exec, port-forward) without a broker
// need a KubeHandle, which the broker would otherwise build. Not in
// cluster.ts: the .mjs runners load that file with Node's own TypeScript
// support, which cannot follow these '.js' imports of src/ to their .ts files.

/** A KubeHandle on `namespace` with the admin kubeconfig and the default API policy. */
export function adminHandle(namespace: string): KubeHandle {
  const kc = adminKubeConfig();
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    namespace,
    server: kc.getCurrentCluster()?.server ?? '',
    context: '',
    inCluster: false,
    policy: { ...DEFAULT_API_POLICY },
    clock: new ServerClock(),
  };
}
