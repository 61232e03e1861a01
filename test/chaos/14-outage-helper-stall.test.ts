import { afterAll, describe, expect, it } from 'vitest';
import { closeRedisClient, createRedisClient } from '../../src/engines/redis/client.js';
import { isKubecacheError } from '../../src/errors.js';
import { component, sleep, waitHealthy, withApiserverFault } from './support/control-plane.js';
import { record } from './support/report.js';
import {
  deleteChaosNamespace,
  login,
  startBroker,
  waitNothingLeft,
  within,
} from './support/runs.js';

// Scenario 14: the API server is stalled (SIGSTOP) for 10 s while a test
// asks for an outage (cache.pause()). The outage helpers reach the cache
// server through an exec, which the API server carries: the call must end
// with a named error within its exec budget, never hang; the cache must keep
// answering (it is not left frozen or stopped); once the API server is back
// the helpers work again (restart); and teardown leaves nothing.
const NS = 'kc-chaos-14';
const STALL_MS = 10_000;
const EXEC_MS = 5000;
// Slack over the exec budget for the error to come back.
const SLACK_MS = 5000;

describe.sequential('scenario 14: API server stalled for 10 s during an outage helper', () => {
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  it('pause() fails with a named error within its budget; the cache answers; restart() works after', async () => {
    await waitHealthy();
    const { broker } = await startBroker(NS, { timeouts: { execMs: EXEC_MS } });
    const runId = broker.runId;
    let pause: Awaited<ReturnType<typeof within>> = { timedOut: true, ms: 0 };
    let pingedDuringStall = false;
    let pingAfter: string | undefined;
    let restart: Awaited<ReturnType<typeof within>> = { timedOut: true, ms: 0 };
    try {
      const lease = await broker.acquire({ engine: 'redis', worker: '1' });
      const redis = await createRedisClient(
        { host: lease.host, port: lease.port },
        login(lease.auth),
      );
      try {
        await withApiserverFault(async () => {
          await component('stop');
          const t0 = Date.now();
          pause = await within(
            broker.outage(lease.id, { action: 'pause', ms: 3000 }),
            EXEC_MS + SLACK_MS,
          );
          // The pod network does not go through the API server: traffic goes on.
          pingedDuringStall = (await within(redis.ping(), 5000)).value === 'PONG';
          await sleep(Math.max(0, STALL_MS - (Date.now() - t0)));
          await component('cont');
        });
        await waitHealthy();
        pingAfter = (await within(redis.ping(), 10_000)).value as string | undefined;
        restart = await within(broker.outage(lease.id, { action: 'restart' }), 60_000);
      } finally {
        await closeRedisClient(redis);
      }
    } finally {
      await within(broker.teardown(), 60_000);
    }
    const left = await waitNothingLeft(NS, 60_000, runId);
    const err = pause.error;
    const code = isKubecacheError(err) ? err.code : undefined;
    const named = code === 'TIMEOUT' || code === 'EXEC_FAILED';
    const restarted = !restart.timedOut && restart.error === undefined;
    const pass =
      !pause.timedOut &&
      named &&
      pingedDuringStall &&
      pingAfter === 'PONG' &&
      restarted &&
      left.pods.length === 0 &&
      left.secrets.length === 0;
    record({
      n: 14,
      scenario: 'API server stalled (SIGSTOP) 10 s during cache.pause()',
      endpoint: 'pod-ip',
      done: `pause(3000) of a redis cache with timeouts.execMs ${EXEC_MS / 1000} s while the API server was stopped; SIGCONT after ${STALL_MS / 1000} s, then restart()`,
      held: `${pause.timedOut ? 'pause HUNG' : err ? `pause failed with ${code ?? (err as Error).name}` : 'pause SUCCEEDED'}; PING during the stall ${pingedDuringStall ? 'answered' : 'did not answer'}, after it ${pingAfter ?? 'no answer'}; restart() ${restart.timedOut ? 'HUNG' : restart.error ? `failed: ${(restart.error as Error).message.slice(0, 100)}` : 'worked'}; pods and Secrets left after teardown: ${left.pods.length} and ${left.secrets.length}`,
      figures: `pause settled after ${(pause.ms / 1000).toFixed(1)} s${err ? `: ${(err as Error).message.slice(0, 140)}` : ''}; restart took ${(restart.ms / 1000).toFixed(1)} s`,
      pass,
    });
    expect(pause.timedOut, 'pause hung').toBe(false);
    expect(code, String((err as Error | undefined)?.message)).toMatch(/^(TIMEOUT|EXEC_FAILED)$/);
    expect(pingedDuringStall, 'the cache stopped answering while the API server was stalled').toBe(
      true,
    );
    expect(pingAfter).toBe('PONG');
    expect(restart.timedOut, 'restart hung').toBe(false);
    expect(restart.error).toBeUndefined();
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });
});
