import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { adminKubeconfigPath } from '../support/cluster.js';
import { rejection } from '../support/errors.js';

// Issue 13, finding 3, on the dev cluster: a namespace that does not exist is
// named as such, with the fix, instead of POD_GONE ("deleted from outside").

const MISSING = 'kc-newuser-no-such-ns';

describe('a namespace that does not exist', () => {
  it('fails the first acquire with NAMESPACE_NOT_FOUND and the command that fixes it', async () => {
    const broker = await Broker.start({
      progress: () => {},
      env: { KUBECONFIG: adminKubeconfigPath(), KUBECACHE_NAMESPACE: MISSING },
    });
    try {
      const err = await rejection(broker.acquire({ engine: 'redis', worker: '1' }));
      expect(err.code, err.message).toBe('NAMESPACE_NOT_FOUND');
      // Named with where it came from, and that place's fix.
      expect(err.message).toContain(
        `[NAMESPACE_NOT_FOUND] the namespace "${MISSING}" (set by KUBECACHE_NAMESPACE) does not exist`,
      );
      expect(err.message).toContain('or set KUBECACHE_NAMESPACE to an existing one');
      expect(err.message).toContain(`kubectl create namespace ${MISSING}`);
      expect(err.details.namespace).toBe(MISSING);
    } finally {
      await broker.teardown();
    }
  });
});
