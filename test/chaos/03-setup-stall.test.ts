import { afterAll, describe, expect, it } from 'vitest';
import { isKubecacheError } from '../../src/errors.js';
import { component, sleep, waitHealthy, withApiserverFault } from './support/control-plane.js';
import { record } from './support/report.js';
import { deleteChaosNamespace, startBroker, waitNothingLeft, within } from './support/runs.js';

// Scenario 3: the API server is stalled (SIGSTOP: its sockets stay open and
// nothing answers) for 30 s while a cache is being set up. Setup must fail
// with TIMEOUT within its budget, nothing may hang, and nothing may be left
// once the API server runs again.
const NS = 'kc-chaos-3';
const STALL_MS = 30_000;
// The setup budget of this run: each API call 5 s, all its retries 10 s, then
// pod creation until Running 10 s; shorter than the stall, so setup must give up.
const BUDGET = { apiCallMs: 5000, apiRetryMs: 10_000, podRunningMs: 10_000 };
const BUDGET_MS = BUDGET.apiRetryMs + BUDGET.podRunningMs;
// Slack over the budget for the error to come back.
const SLACK_MS = 8000;

describe.sequential('scenario 3: API server stalled for 30 s during setup', () => {
  afterAll(async () => {
    await deleteChaosNamespace(NS);
  });

  it('setup fails with TIMEOUT within its budget, nothing is left after SIGCONT', async () => {
    await waitHealthy();
    const timeouts = BUDGET;
    const { broker } = await startBroker(NS, { timeouts });
    const runId = broker.runId;
    let acquire: Awaited<ReturnType<typeof within>> = { timedOut: true, ms: 0 };
    try {
      await withApiserverFault(async () => {
        await component('stop');
        const t0 = Date.now();
        acquire = await within(
          broker.acquire({ engine: 'redis', worker: '1' }),
          BUDGET_MS + SLACK_MS,
        );
        await sleep(Math.max(0, STALL_MS - (Date.now() - t0)));
        await component('cont');
      });
    } finally {
      await within(broker.teardown(), 60_000);
    }
    const left = await waitNothingLeft(NS, 30_000, runId);
    const err = acquire.error;
    const code = isKubecacheError(err) ? err.code : undefined;
    const pass =
      !acquire.timedOut &&
      code === 'TIMEOUT' &&
      acquire.ms <= BUDGET_MS + SLACK_MS &&
      left.pods.length === 0 &&
      left.secrets.length === 0;
    record({
      n: 3,
      scenario: 'API server stalled (SIGSTOP) 30 s during setup',
      endpoint: 'n/a (fails before any endpoint)',
      done: `acquire(redis) with a setup budget of ${BUDGET_MS / 1000} s (apiRetryMs ${BUDGET.apiRetryMs / 1000} s + podRunningMs ${BUDGET.podRunningMs / 1000} s) while the API server was stopped; SIGCONT after ${STALL_MS / 1000} s`,
      held: `${acquire.timedOut ? 'acquire HUNG' : err ? `acquire failed with ${code ?? (err as Error).name}` : 'acquire SUCCEEDED'}; pods and Secrets left after SIGCONT and teardown: ${left.pods.length} and ${left.secrets.length}`,
      figures: `acquire settled after ${(acquire.ms / 1000).toFixed(1)} s${err ? `: ${(err as Error).message.slice(0, 140)}` : ''}`,
      pass,
    });
    expect(acquire.timedOut, 'acquire hung').toBe(false);
    expect(code, String((err as Error | undefined)?.message)).toBe('TIMEOUT');
    expect(acquire.ms).toBeLessThanOrEqual(BUDGET_MS + SLACK_MS);
    expect(left).toMatchObject({ pods: [], secrets: [] });
  });
});
