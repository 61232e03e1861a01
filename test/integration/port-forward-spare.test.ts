import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeHandle } from '../../src/kube/client.js';
import { startPortForward } from '../../src/kube/port-forward.js';
import { adminHandle } from '../support/admin-handle.js';
import { deleteNamespace, ensureNamespace } from '../support/cluster.js';
import { pingRedis } from '../support/redis-ping.js';

// A client that gives up before its tunnel opens (a readiness probe attempt,
// shorter than a TLS handshake and upgrade on a loaded machine) must not
// waste that tunnel: the next connection gets it. Otherwise every short
// attempt gives up before its own tunnel opens, forever.
const NS = 'kc-pf-spare';
const POD = 'redis-spare';

/** One PING through the port-forward's local port, 20 s at most. */
const redisPing = (port: number): Promise<string> => pingRedis('127.0.0.1', port, 20_000);

describe('port-forward spare tunnel', () => {
  let handle: KubeHandle;

  beforeAll(async () => {
    handle = adminHandle(NS);
    const core = handle.core;
    await ensureNamespace(NS);
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: POD },
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'redis', image: 'redis:7-alpine', imagePullPolicy: 'IfNotPresent' }],
        },
      },
    });
    for (let i = 0; i < 600; i++) {
      const pod = await core.readNamespacedPod({ name: POD, namespace: NS });
      if (pod.status?.phase === 'Running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    await deleteNamespace(NS);
  });

  it('hands the tunnel of a client that left early to the next connection', async () => {
    const fwd = await startPortForward(handle, POD, 6379);
    try {
      // Redis may still be starting: one real round trip first.
      expect(await redisPing(fwd.port)).toBe('+PONG');
      const before = fwd.health().tunnelsOpened;
      // A client that hangs up at once, before its tunnel can have opened.
      const quitter = connect({ host: '127.0.0.1', port: fwd.port });
      quitter.on('error', () => {});
      await new Promise<void>((r) => quitter.once('connect', () => r()));
      quitter.destroy();
      for (let i = 0; i < 200 && fwd.health().tunnelsOpened === before; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(fwd.health().tunnelsOpened).toBe(before + 1);
      // The next client is served by that tunnel: no new one is opened.
      expect(await redisPing(fwd.port)).toBe('+PONG');
      expect(fwd.health().tunnelsOpened).toBe(before + 1);
      // And after it, connections get fresh tunnels again.
      expect(await redisPing(fwd.port)).toBe('+PONG');
      expect(fwd.health().tunnelsOpened).toBe(before + 2);
    } finally {
      await fwd.close();
    }
  });
});
