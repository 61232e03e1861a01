// The kubecache daemon's entry (`reuse` with `daemon`): a broker that outlives
// runs. A runner spawns it detached (join-daemon.ts) and sends its spec on
// stdin; it answers one JSON line on stdout (its address, or the error that
// stopped it, the same the runner would have met in process) and then logs
// to the file the runner gave it as stderr. Between runs it keeps the
// reusable pods leased and warm in memory, so the next run makes no claim or
// park call for them; after reuseIdleSeconds without a run it deletes them
// and exits. SIGTERM, SIGINT or SIGHUP park them for the next run instead.
import '../runner/node-version.js';
import { Broker } from '../broker/broker.js';
import { startBrokerApi } from '../broker/http-api.js';
import { planPrestart, type RunRecord } from '../broker/prestart.js';
import { deleteUnused, trackAcquires } from '../broker/run-tracking.js';
import type { SeedRequest } from '../broker/types.js';
import type { KubecacheOptions } from '../config/options.js';
import type { EngineName } from '../engines/types.js';
import { KubecacheError, serializeError } from '../errors.js';
import {
  processAlive,
  readDescriptor,
  removeOwnDescriptor,
  writeDescriptor,
} from './descriptor.js';
import {
  type BeginReply,
  type BeginRequest,
  type EndReply,
  LINES_WAIT_MS,
  type Lines,
  type LinesReply,
  type RunRequest,
} from './protocol.js';
import { RunLog } from './run-log.js';

export interface DaemonSpec {
  version: 1;
  options: KubecacheOptions;
  seeds: Partial<Record<EngineName, SeedRequest>>;
  descriptor: string;
}

/** How often the daemon checks that the runner of the current run still exists. */
const RUNNER_CHECK_MS = 1_000;

interface ActiveRun {
  pid: number;
  /** The run's progress lines its runner has not printed yet; runners ask from an index. */
  lines: RunLog;
  /** Long polls (POST /v1/runs/lines) waiting for the next line or the end. */
  waiters: (() => void)[];
}

/** An ended run: the lines its runner has not printed, and the run's cache requests. */
interface FinishedRun {
  log: RunLog;
  requests: EndReply['requests'];
}

function wake(run: ActiveRun | undefined): void {
  for (const resolve of run?.waiters.splice(0) ?? []) resolve();
}

/** The body of a run's later calls; `from` 0 for a runner that sends none. */
function runRequest(body: unknown): RunRequest {
  const b = (body ?? {}) as Partial<RunRequest>;
  return {
    pid: Number.isSafeInteger(b.pid) ? (b.pid as number) : -1,
    from: Number.isSafeInteger(b.from) && (b.from as number) >= 0 ? (b.from as number) : 0,
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(await readStdin()) as DaemonSpec;
  let active: ActiveRun | undefined;
  const log = (line: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };
  const progress = (line: string): void => {
    log(line);
    active?.lines.push(line);
    wake(active);
  };
  let broker: Broker;
  try {
    broker = await Broker.start({ ...spec.options, progress });
  } catch (err) {
    answer({ error: serializeError(err) });
    process.exit(1);
  }
  const used = new Set<string>();
  let idle: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  const idleMs = broker.cluster.reuseIdleSeconds * 1000;
  // Broker.start reaped. A pod becomes reapable only when a lease ends, and
  // leases move once per renew interval: back-to-back runs skip the reap.
  let reapedAt = Date.now();

  const stop = (why: string, discard: boolean): Promise<void> => {
    stopping ??= (async () => {
      log(`[kubecache] daemon stops: ${why}`);
      clearInterval(runnerCheck);
      if (idle) clearTimeout(idle);
      removeOwnDescriptor(spec.descriptor, process.pid);
      wake(active);
      await api.close();
      if (discard) broker.discardKept();
      await broker.teardown();
      process.exit(0);
    })();
    return stopping;
  };
  const waitIdle = (): void => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(
      () => void stop(`no run for reuseIdleSeconds (${idleMs / 1000} s)`, true),
      idleMs,
    );
  };
  // One end at a time: the runner check and a new run's start can both
  // find a run whose runner died.
  let ending: Promise<FinishedRun> | undefined;
  const endRun = (): Promise<FinishedRun> => {
    ending ??= finishRun().finally(() => {
      ending = undefined;
    });
    return ending;
  };
  const finishRun = async (): Promise<FinishedRun> => {
    const run = active;
    const { requests, kept } = await broker.endRun();
    if (kept.length > 0) {
      progress(
        `[kubecache] reuse: the kubecache daemon (pid ${process.pid}) keeps ${kept.length} pod(s) warm for the next run, for ${idleMs / 1000} s: ${kept.join(', ')}`,
      );
    }
    active = undefined;
    wake(run);
    used.clear();
    // Two runs that found no daemon each started one, and the other's file
    // won: no run will find this one, so its pods go back to the namespace
    // (parked) for whoever runs next.
    if (readDescriptor(spec.descriptor)?.pid !== process.pid) {
      setImmediate(() => void stop('another daemon serves this project', false));
    } else waitIdle();
    return { log: run?.lines ?? new RunLog(), requests };
  };

  // A run's later calls (end, rerun, lines) are served only to its own runner.
  const runOf = (pid: number): ActiveRun | undefined => (active?.pid === pid ? active : undefined);

  const api = await startBrokerApi(trackAcquires(broker, used), {
    'POST /v1/runs': async (body) => {
      const req = body as BeginRequest;
      if (!req || !Number.isSafeInteger(req.pid)) {
        throw new KubecacheError('BAD_OPTION', 'a run needs {pid: number}.');
      }
      // Checked again after every wait: another start may come in meanwhile.
      for (;;) {
        if (stopping) throw new KubecacheError('BROKER', 'the kubecache daemon is stopping.');
        if (ending) {
          await ending.catch(() => {});
          continue;
        }
        if (active && processAlive(active.pid)) {
          throw new KubecacheError(
            'BROKER',
            `the kubecache daemon (pid ${process.pid}) is serving the run of process ${active.pid}.`,
          );
        }
        if (!active) break;
        // The runner of the last run died without ending it.
        await endRun();
      }
      // From the checks to here nothing waits: no other start can slip in.
      if (idle) clearTimeout(idle);
      active = { pid: req.pid, lines: new RunLog(), waiters: [] };
      broker.beginRun();
      // As an in-process broker does at its start; off this run's path.
      if (Date.now() - reapedAt >= broker.cluster.timeouts.leaseRenewMs) {
        reapedAt = Date.now();
        void broker.reap();
      }
      if (req.workers !== undefined) {
        broker.prestart(
          planPrestart({
            option: broker.cluster.prestart,
            workers: req.workers,
            previous: req.previous as RunRecord | undefined,
            seeds: spec.seeds,
          }),
        );
      }
      const reply: BeginReply = {
        runId: broker.runId,
        namespace: broker.handle.namespace,
        ...active.lines.from(0),
      };
      return reply;
    },
    'POST /v1/runs/end': async (body) => {
      const { pid, from } = runRequest(body);
      if (!runOf(pid)) return { from, lines: [], requests: [] } satisfies EndReply;
      const ended = await endRun();
      return { requests: ended.requests, ...ended.log.from(from) } satisfies EndReply;
    },
    'POST /v1/runs/rerun': async (body) => {
      const { pid, from } = runRequest(body);
      // Only the current run's runner: another's rerun must not delete its pods.
      const run = runOf(pid);
      if (!run) return { from, lines: [] } satisfies Lines;
      await deleteUnused(broker, used);
      return run.lines.from(from);
    },
    'POST /v1/runs/lines': async (body) => {
      const { pid, from } = runRequest(body);
      const run = runOf(pid);
      if (!run) return { from, lines: [], ended: true } satisfies LinesReply;
      if (run.lines.length <= from) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, LINES_WAIT_MS);
          run.waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return { ...run.lines.from(from), ended: active !== run } satisfies LinesReply;
    },
  });
  // Referenced: the API server is unref'd, and the daemon must stay up.
  const runnerCheck = setInterval(() => {
    if (active && !processAlive(active.pid)) {
      log(`[kubecache] the runner of the current run (pid ${active.pid}) is gone; ending its run`);
      void endRun();
    }
  }, RUNNER_CHECK_MS);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => void stop(signal, false));
  }
  writeDescriptor(spec.descriptor, {
    version: 1,
    pid: process.pid,
    url: api.url,
    token: api.token,
  });
  waitIdle();
  answer({ url: api.url, token: api.token, pid: process.pid });
  log(`[kubecache] daemon of run ${broker.runId} listening on ${api.url}`);
}

/** The one line the spawning runner waits for; stdout is not used after it. */
function answer(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

main().catch((err: unknown) => {
  answer({ error: serializeError(err) });
  process.exit(1);
});
