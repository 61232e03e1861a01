import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { claimPod, holdsClaim, parkPod } from '../../src/kube/claim.js';
import { connectKube, type KubeHandle } from '../../src/kube/client.js';
import { IDLE_RUN, LABEL_REUSE, LABEL_RUN } from '../../src/names.js';
import { adminCore, adminKubeconfigPath } from '../support/cluster.js';
import { component, sleep, waitHealthy, withApiserverFault } from './support/control-plane.js';
import { record } from './support/report.js';
import { deleteChaosNamespace, startBroker, waitNothingLeft, within } from './support/runs.js';

// Scenario 16: with warm reuse (as in CI, where runs claim kept pods in the
// cluster, not through the daemon), a run takes a kept pod with a
// conditional update and gives it back at teardown with another. The API
// server goes away at exactly those moments: SIGKILLed (the update is
// refused) or stalled by SIGSTOP past the call's deadline (the update may
// land without an answer), back after 10 s. The claim must end held by the
// run (its own earlier success recognised, not mistaken for another run's),
// the park must land, and nothing may be left.
const NS = 'kc-chaos-16';
const DOWN_MS = 10_000;
// Per-attempt deadline of the claim and park calls: shorter than the stall,
// so an attempt sent into the stall times out and is sent again.
const CALL_MS = 3000;

async function keptPods(): Promise<V1Pod[]> {
  const list = await adminCore().listNamespacedPod({
    namespace: NS,
    labelSelector: `${LABEL_RUN}=${IDLE_RUN}`,
  });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

const FAULTS = {
  kill: { down: 'kill', up: 'start', label: 'SIGKILLed' },
  stop: { down: 'stop', up: 'cont', label: 'stalled (SIGSTOP)' },
} as const;

describe.sequential('scenario 16: API server down while a run claims or parks a kept pod', () => {
  let handle: KubeHandle;
  let kept: V1Pod[] = [];

  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  it('a run with reuse keeps its pods', async () => {
    await waitHealthy();
    const { broker } = await startBroker(NS, { reuse: true, daemon: false });
    try {
      await Promise.all(
        ['1', '2'].map((worker) => broker.acquire({ engine: 'memcached', worker })),
      );
    } finally {
      await broker.teardown();
    }
    kept = await keptPods();
    expect(kept).toHaveLength(2);
    handle = await connectKube({
      kubeconfig: adminKubeconfigPath(),
      namespace: NS,
      apiConnectMs: 5000,
    });
    handle.policy = { ...handle.policy, callMs: CALL_MS };
  });

  for (const [i, fault] of (['kill', 'stop'] as const).entries()) {
    const f = FAULTS[fault];
    it(`${fault}: the claim ends held by the run and the park lands once the API server is back`, async () => {
      // Claims and parks are API objects only: the API server answering
      // (component start/cont waits for /readyz) is all they need, not the
      // kubelet and controllers that waitHealthy also waits for after a kill.
      await component('start');
      const pod = kept[i];
      expect(pod, 'no kept pod for this case').toBeDefined();
      const name = pod?.metadata?.name ?? '';
      const claim = {
        runId: `chaos16-${fault}`,
        worker: '1',
        leaseExpiresAt: new Date(Date.now() + 60_000),
      };
      let claimed: Awaited<ReturnType<typeof within<V1Pod | undefined>>> = {
        timedOut: true,
        ms: 0,
      };
      let parked: Awaited<ReturnType<typeof within<void>>> = { timedOut: true, ms: 0 };
      const reuseKey = pod?.metadata?.labels?.[LABEL_REUSE] ?? '';
      await withApiserverFault(async () => {
        await component(f.down);
        const pending = within(claimPod(handle, pod as V1Pod, claim), 60_000);
        await sleep(DOWN_MS);
        await component(f.up);
        claimed = await pending;
      });
      await component('start');
      const afterClaim = (await adminCore().readNamespacedPod({ name, namespace: NS })) as V1Pod;
      // Given back inside a second outage of the same kind.
      await withApiserverFault(async () => {
        await component(f.down);
        const pending = within(
          parkPod(handle, name, { reuseKey, idleUntil: new Date(Date.now() + 120_000) }),
          60_000,
        );
        await sleep(DOWN_MS);
        await component(f.up);
        parked = await pending;
      });
      await component('start');
      const afterPark = (await adminCore().readNamespacedPod({ name, namespace: NS })) as V1Pod;
      const held = holdsClaim(claimed.value, claim) && holdsClaim(afterClaim, claim);
      const parkedIdle =
        !parked.timedOut &&
        parked.error === undefined &&
        afterPark.metadata?.labels?.[LABEL_RUN] === IDLE_RUN;
      record({
        n: 16,
        scenario:
          'API server down 10 s while a run claims, then parks, a kept pod (reuse, no daemon)',
        endpoint: 'n/a',
        done: `conditional claim of a kept memcached pod sent while the API server was ${f.label}, back after ${DOWN_MS / 1000} s; then the park (teardown's give-back) sent inside a second such outage; ${CALL_MS / 1000} s per attempt`,
        held: `claim: ${claimed.timedOut ? 'HUNG' : claimed.error ? `failed: ${(claimed.error as Error).message.slice(0, 120)}` : held ? 'held by the run' : 'reported lost'}; park: ${parked.timedOut ? 'HUNG' : parked.error ? `failed: ${(parked.error as Error).message.slice(0, 120)}` : parkedIdle ? 'landed, pod idle again' : 'returned, pod not idle'}`,
        figures: `claim settled after ${(claimed.ms / 1000).toFixed(1)} s, park after ${(parked.ms / 1000).toFixed(1)} s`,
        pass: held && parkedIdle,
      });
      expect(claimed.timedOut, 'claim hung').toBe(false);
      expect(claimed.error).toBeUndefined();
      expect(held, 'the claim did not end held by the run').toBe(true);
      expect(parked.error).toBeUndefined();
      expect(parkedIdle, 'the park did not land').toBe(true);
    });
  }

  it('leaves nothing once the kept pods are deleted', async () => {
    const core = adminCore();
    for (const p of await keptPods()) {
      await core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace: NS });
    }
    const left = await waitNothingLeft(NS, 60_000);
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });
});
