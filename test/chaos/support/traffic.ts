import { sleep } from './control-plane.js';

export interface TrafficStats {
  ok: number;
  errors: number;
  /** Operations still unsettled after the per-operation bound: a hung test. */
  hung: number;
  maxLatencyMs: number;
  /** Time of the first success after `since`, for resume figures. */
  firstOkAfter(since: number): number | undefined;
  lastError: string | undefined;
}

/**
 * Runs `op` in a loop, one at a time, as a test would, recording successes,
 * failures and latencies. An operation not settled within `boundMs` counts as
 * hung and the loop moves on (bounded: no test may hang on a dead tunnel).
 */
export function startTraffic(op: (i: number) => Promise<void>, boundMs: number) {
  const oks: number[] = [];
  let errors = 0;
  let hung = 0;
  let maxLatencyMs = 0;
  let lastError: string | undefined;
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; i < 1_000_000 && !stopped; i++) {
      const t0 = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        op(i).then(
          () => 'ok' as const,
          (err: unknown) => {
            lastError = (err as Error).message;
            return 'error' as const;
          },
        ),
        new Promise<'hung'>((resolve) => {
          timer = setTimeout(() => resolve('hung'), boundMs);
        }),
      ]);
      clearTimeout(timer);
      maxLatencyMs = Math.max(maxLatencyMs, Date.now() - t0);
      if (outcome === 'ok') oks.push(Date.now());
      else if (outcome === 'hung') hung += 1;
      else {
        errors += 1;
        await sleep(100);
      }
    }
  })();
  return {
    /** While running: the first success at or after `since`. */
    firstOkAfter: (since: number): number | undefined => oks.find((t) => t >= since),
    async stop(): Promise<TrafficStats> {
      stopped = true;
      await loop;
      return {
        ok: oks.length,
        errors,
        hung,
        maxLatencyMs,
        lastError,
        firstOkAfter: (since) => oks.find((t) => t >= since),
      };
    },
  };
}
