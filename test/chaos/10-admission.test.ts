import { afterAll, describe, expect, it } from 'vitest';
import { isKubecacheError } from '../../src/errors.js';
import { adminCore, ensureNamespace } from '../support/cluster.js';
import { waitHealthy } from './support/control-plane.js';
import { record } from './support/report.js';
import { deleteChaosNamespace, startBroker, waitNothingLeft, within } from './support/runs.js';

// Scenario 10: shared CI namespaces have a ResourceQuota and a LimitRange.
// A run that does not fit gets a named error with the right fix (not an RBAC
// denial); where kubecache can fit (its own defaults inside a LimitRange),
// the run passes.
const QUOTA_NS = 'kc-chaos-10-quota';
const LIMITS_NS = 'kc-chaos-10-limits';

function describeError(err: unknown): string {
  if (!err) return 'none';
  const code = isKubecacheError(err) ? err.code : (err as Error).name;
  return `${code}: ${(err as Error).message.split('\n')[0]?.slice(0, 150)}`;
}

describe.sequential('scenario 10: ResourceQuota and LimitRange smaller than the run needs', () => {
  afterAll(async () => {
    await deleteChaosNamespace(QUOTA_NS);
    await deleteChaosNamespace(LIMITS_NS);
  });

  it('a pod quota of 1 for a run of 2 caches: a named quota error, not FORBIDDEN', async () => {
    await waitHealthy();
    await ensureNamespace(QUOTA_NS);
    await adminCore()
      .createNamespacedResourceQuota({
        namespace: QUOTA_NS,
        body: { metadata: { name: 'pods' }, spec: { hard: { pods: '1' } } },
      })
      .catch(() => undefined);
    // Until the quota controller has computed the quota's status, admission
    // treats it as unknown: start once the namespace's quota is in force.
    for (let i = 0; i < 120; i++) {
      const q = await adminCore()
        .readNamespacedResourceQuota({ name: 'pods', namespace: QUOTA_NS })
        .catch(() => undefined);
      if (q?.status?.hard?.pods !== undefined) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const { broker } = await startBroker(QUOTA_NS, { timeouts: { podRunningMs: 20_000 } });
    const first = await within(broker.acquire({ engine: 'redis', worker: '1' }), 60_000);
    const second = await within(broker.acquire({ engine: 'memcached', worker: '1' }), 60_000);
    await broker.teardown();
    const left = await waitNothingLeft(QUOTA_NS, 30_000, broker.runId);
    const err = second.error;
    const named =
      isKubecacheError(err) && err.code !== 'FORBIDDEN' && /quota/i.test((err as Error).message);
    const pass = first.value !== undefined && named && !second.timedOut && left.ms !== undefined;
    record({
      n: 10,
      scenario: 'ResourceQuota smaller than the run needs',
      endpoint: 'n/a',
      done: 'namespace with ResourceQuota pods=1; run acquires redis, then memcached',
      held: `first cache ${first.value ? 'started' : `FAILED (${describeError(first.error)})`}; second: ${second.timedOut ? 'HUNG' : describeError(err)}`,
      figures: `second settled after ${(second.ms / 1000).toFixed(1)} s; pods left ${left.pods.length}`,
      pass,
    });
    // A first acquire that hung has no error either: it must have got its pod.
    expect(first.timedOut, 'the first acquire hung').toBe(false);
    expect(first.error).toBeUndefined();
    expect(second.timedOut).toBe(false);
    expect(isKubecacheError(err) ? err.code : undefined).not.toBe('FORBIDDEN');
    expect(named, describeError(err)).toBe(true);
    // As the table's verdict: the run's teardown left nothing.
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });

  it('a LimitRange below the defaults: kubecache fits its defaults, a user value over the max is a named error', async () => {
    await waitHealthy();
    await ensureNamespace(LIMITS_NS);
    await adminCore()
      .createNamespacedLimitRange({
        namespace: LIMITS_NS,
        body: {
          metadata: { name: 'limits' },
          spec: { limits: [{ type: 'Container', max: { memory: '128Mi', cpu: '200m' } }] },
        },
      })
      .catch(() => undefined);
    const { broker } = await startBroker(LIMITS_NS);
    const defaults = await within(broker.acquire({ engine: 'redis', worker: '1' }), 60_000);
    const tooBig = await within(
      broker.acquire({
        engine: 'memcached',
        worker: '1',
        options: { resources: { limits: { memory: '512Mi' } } },
      }),
      60_000,
    );
    await broker.teardown();
    const left = await waitNothingLeft(LIMITS_NS, 30_000, broker.runId);
    const err = tooBig.error;
    const named =
      isKubecacheError(err) &&
      err.code !== 'FORBIDDEN' &&
      /LimitRange|maximum|128Mi/i.test((err as Error).message);
    const pass = defaults.value !== undefined && named && left.ms !== undefined;
    record({
      n: 10,
      scenario: 'LimitRange below the defaults (max 128Mi, 200m)',
      endpoint: 'n/a',
      done: 'redis with kubecache defaults; memcached with limits.memory 512Mi set by the user',
      held: `defaults: ${defaults.value ? 'run passed' : describeError(defaults.error)}; user value over the max: ${tooBig.value ? 'ACCEPTED?' : describeError(err)}`,
      figures: `pods left ${left.pods.length}`,
      pass,
    });
    expect(defaults.timedOut, 'the acquire with the defaults hung').toBe(false);
    expect(defaults.error, describeError(defaults.error)).toBeUndefined();
    expect(tooBig.timedOut, 'the acquire over the max hung').toBe(false);
    expect(named, describeError(err)).toBe(true);
    // As the table's verdict: the run's teardown left nothing.
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });
});
