import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedisClient, createRedisClient } from '../../src/engines/redis/client.js';
import { isKubecacheError } from '../../src/errors.js';
import {
  clusterSetting,
  component,
  sleep,
  waitHealthy,
  withApiserverFault,
} from './support/control-plane.js';
import { record } from './support/report.js';
import {
  deleteChaosNamespace,
  login,
  startBroker,
  waitNothingLeft,
  waitNothingLive,
  within,
} from './support/runs.js';

// Scenario 12: a redis seeded from an RDB fixture through exec (the transport
// for pods that cannot reach the runner; every byte goes through the API
// server) loses the API server in the middle of the push: SIGKILLed once part
// of the file is in the pod, started again 10 s later. The push is retried
// within the start budget, which outlasts the outage, so the cache must come
// up seeded with the whole fixture (it failed with CRASHED when the cut push
// handed the loader a truncated file); once the run is torn down no pod of it
// may be left undeleted and no Secret at all.
const NS = 'kc-chaos-12';
const OUTAGE_MS = 10_000;
// Keys of 1000 bytes, uncompressed: a fixture of about 40 MB, so the push
// lasts long enough to be cut in the middle.
const KEYS = 40_000;
// The start budget: the loader in the pod waits this long for the pushed
// file, and the broker retries the push for as long.
const TIMEOUTS = { podRunningMs: 45_000, probeMs: 15_000, execMs: 10_000 };
const BUDGET_MS = TIMEOUTS.podRunningMs + TIMEOUTS.probeMs;
// Slack over the budget for the error to come back.
const SLACK_MS = 10_000;
// How long to watch for the push to begin before giving up on the scenario.
const PUSH_START_MS = 30_000;
// How long the run's teardown may take to have deleted all it made.
const DELETED_MS = 15_000;
// How long the kubelet's removal of the deleted pod is waited for, as a
// figure only: after an API server restart it lags up to a minute (scenario
// 2), which is the cluster's part, and waiting it out would double this
// scenario's time.
const GONE_WAIT_MS = 20_000;

/** An uncompressed RDB of KEYS keys, written by the local redis-server on a unix socket only. */
function makeFixture(dir: string): string {
  const sock = join(dir, 'redis.sock');
  const server = spawn('redis-server', [
    '--port',
    '0',
    '--unixsocket',
    sock,
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--rdbcompression',
    'no',
    '--enable-debug-command',
    'local',
  ]);
  try {
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('redis-cli', ['-s', sock, 'ping'], { stdio: 'ignore' });
        break;
      } catch {
        execFileSync('sleep', ['0.05']);
      }
    }
    execFileSync('redis-cli', ['-s', sock, 'DEBUG', 'POPULATE', String(KEYS), 'big', '1000']);
    execFileSync('redis-cli', ['-s', sock, 'SAVE']);
  } finally {
    server.kill();
  }
  return join(dir, 'dump.rdb');
}

/**
 * The bytes of a push in progress: the per-attempt file the push command
 * writes (dump.rdb.part.<pid>) in a pod's data volume on this node.
 */
function pushedBytes(podsDir: string): number {
  let most = 0;
  for (const uid of safeList(podsDir)) {
    const volumes = join(podsDir, uid, 'volumes', 'kubernetes.io~empty-dir');
    for (const vol of safeList(volumes)) {
      for (const f of safeList(join(volumes, vol))) {
        if (!/^dump\.rdb\.part\.\d+$/.test(f)) continue;
        try {
          most = Math.max(most, statSync(join(volumes, vol, f)).size);
        } catch {
          // Renamed or removed meanwhile.
        }
      }
    }
  }
  return most;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

describe.sequential('scenario 12: API server SIGKILLed mid-push of an exec seed', () => {
  let dir = '';
  let fixture = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kc-chaos-12-'));
    fixture = makeFixture(dir);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await deleteChaosNamespace(NS);
  });

  it('the cache comes up with the whole fixture once the API server is back; nothing is left undeleted', async () => {
    await waitHealthy();
    const size = statSync(fixture).size;
    const podsDir = join(await clusterSetting('VARDIR'), 'kubelet', 'pods');
    const { broker } = await startBroker(NS, { timeouts: TIMEOUTS });
    const runId = broker.runId;
    let cutAt: number | undefined;
    let answeringMs: number | undefined;
    let acquire: Awaited<ReturnType<typeof within>> = { timedOut: true, ms: 0 };
    let keys: number | undefined;
    let teardown: Awaited<ReturnType<typeof within>> = { timedOut: true, ms: 0 };
    const tBegin = Date.now();
    try {
      const started = within(
        broker.acquire({
          engine: 'redis',
          worker: '1',
          options: { endpoint: 'pod-ip' },
          seed: { kind: 'rdb', path: fixture, transport: 'exec' },
        }),
        BUDGET_MS + OUTAGE_MS + SLACK_MS,
      );
      await withApiserverFault(async () => {
        const t0 = Date.now();
        while (Date.now() - t0 < PUSH_START_MS) {
          const bytes = pushedBytes(podsDir);
          if (bytes > 0 && bytes < size) {
            cutAt = bytes;
            break;
          }
          await sleep(5);
        }
        if (cutAt === undefined) return;
        await component('kill');
        const killedAt = Date.now();
        await sleep(OUTAGE_MS);
        await component('start');
        answeringMs = Date.now() - killedAt;
      });
      acquire = await started;
      const lease = acquire.value as Awaited<ReturnType<typeof broker.acquire>> | undefined;
      if (lease) {
        const redis = await createRedisClient(
          { host: lease.host, port: lease.port },
          login(lease.auth),
        );
        try {
          await redis.connect();
          keys = await redis.dbsize();
        } finally {
          await closeRedisClient(redis);
        }
      }
    } finally {
      teardown = await within(broker.teardown(), 90_000);
    }
    const left = await waitNothingLive(NS, DELETED_MS, runId);
    const gone = await waitNothingLeft(NS, GONE_WAIT_MS, runId);
    const err = acquire.error;
    const code = isKubecacheError(err) ? err.code : undefined;
    const outcome = acquire.timedOut
      ? 'acquire HUNG'
      : err
        ? `acquire failed with ${code ?? `an unnamed ${(err as Error).name}`}`
        : `acquire succeeded, ${keys} of ${KEYS} keys`;
    // The loader's own words, when the pod failed.
    const logs = isKubecacheError(err) ? String(err.details.logs ?? '').trim() : '';
    const pass =
      cutAt !== undefined &&
      !acquire.timedOut &&
      !err &&
      keys === KEYS &&
      left.pods.length === 0 &&
      left.secrets.length === 0;
    record({
      n: 12,
      scenario: 'API server SIGKILLed mid-push of an exec seed, back after 10 s',
      endpoint: 'pod-ip',
      done: `redis seeded with a ${(size / 1e6).toFixed(0)} MB RDB by exec; API server SIGKILLed when ${cutAt === undefined ? 'NO push was seen' : `${(cutAt / 1e6).toFixed(1)} MB were in the pod`}, started ${OUTAGE_MS / 1000} s later (answering ${answeringMs === undefined ? '-' : (answeringMs / 1000).toFixed(1)} s after the kill); start budget ${BUDGET_MS / 1000} s`,
      held: `${outcome}; ${left.pods.length} pod(s) not deleted, ${left.secrets.length} Secret(s) left`,
      figures: `teardown ${(teardown.ms / 1000).toFixed(1)} s, all deleted ${left.ms === undefined ? 'never' : `${(left.ms / 1000).toFixed(1)} s`} after it, pod removed by the kubelet ${gone.ms === undefined ? `not within ${GONE_WAIT_MS / 1000} s` : `${(gone.ms / 1000).toFixed(1)} s`} after that (scenario ${((Date.now() - tBegin) / 1000).toFixed(0)} s); acquire settled after ${(acquire.ms / 1000).toFixed(1)} s${err ? `: ${(err as Error).message.split('\n')[0]?.slice(0, 160)}${logs ? `; pod log: ${logs.split('\n').at(-1)?.slice(0, 160)}` : ''}` : ''}`,
      pass,
    });
    expect(cutAt, 'the push was never seen in progress').toBeDefined();
    expect(acquire.timedOut, 'acquire hung').toBe(false);
    expect(
      err,
      `acquire failed with ${code}: ${(err as Error | undefined)?.message}`,
    ).toBeUndefined();
    expect(keys).toBe(KEYS);
    expect(left.pods).toEqual([]);
    expect(left.secrets).toEqual([]);
  });
});
