import createDebug from 'debug';
import { retryUntil } from '../deadline.js';
import type { ProbeOptions } from '../engines/probe.js';
import { MAX_PAUSE_MS, type OutageAction, outageCommand } from '../engines/supervisor.js';
import type { EngineServer } from '../engines/types.js';
import { isKubecacheError, KubecacheError } from '../errors.js';
import type { KubeHandle } from '../kube/client.js';
import { execInPod } from '../kube/exec.js';
import type { OutageRequest, OutageResult } from './types.js';

const debug = createDebug('kubecache:outage');

export const OUTAGE_ACTIONS: readonly OutageAction[] = ['stop', 'start', 'restart', 'pause'];

export function checkOutageRequest(body: unknown): OutageRequest {
  const req = body as Partial<OutageRequest> | undefined;
  if (!req || !OUTAGE_ACTIONS.includes(req.action as OutageAction)) {
    throw new KubecacheError(
      'BAD_OPTION',
      `an outage needs {action: ${OUTAGE_ACTIONS.map((a) => `"${a}"`).join(' | ')}, ms?: number}.`,
      { field: 'action', value: req?.action },
    );
  }
  if (req.action === 'pause' && !(Number(req.ms) > 0 && Number(req.ms) <= MAX_PAUSE_MS)) {
    throw new KubecacheError(
      'BAD_OPTION',
      `pause(ms) needs a duration between 1 and ${MAX_PAUSE_MS} ms, got ${String(req.ms)}.`,
      { field: 'ms', value: req.ms },
    );
  }
  return req as OutageRequest;
}

export interface OutageTarget {
  handle: KubeHandle;
  engine: EngineServer;
  podName: string;
  container: string;
  /** Where this process reaches the cache (pod IP or port-forward), to see it answer again. */
  host: string;
  port: number;
  execMs: number;
  /** How long the server may take to answer again after start/restart. */
  readyMs: number;
  probe?: ProbeOptions;
}

/**
 * A real fault on the cache pod: the supervisor in the container stops,
 * starts or freezes the server process (see engines/supervisor.ts). start and
 * restart return once the server answers its protocol again; stop once
 * nothing listens; pause once the server is frozen (it thaws by itself).
 */
export async function runOutage(target: OutageTarget, req: OutageRequest): Promise<OutageResult> {
  const started = Date.now();
  const command = outageCommand(req.action, req.ms ?? 0);
  const result = await execInPod(target.handle, {
    pod: target.podName,
    container: target.container,
    command,
    timeoutMs: target.execMs,
  });
  if (result.exitCode !== 0) {
    throw new KubecacheError(
      'EXEC_FAILED',
      `${req.action} of ${target.engine.name} in pod ${target.podName} failed (exit code ${result.exitCode}): ` +
        `${result.stderr.trim() || 'no output'}. The outage helpers need the pod kubecache started ` +
        '(its command runs the server under kubecache\'s supervisor) and an image with "sh".',
      { pod: target.podName, action: req.action, exitCode: result.exitCode },
    );
  }
  if (req.action === 'start' || req.action === 'restart') await waitUntilAnswering(target);
  const ms = Date.now() - started;
  debug('%s of %s took %d ms', req.action, target.podName, ms);
  return { action: req.action, ms };
}

async function waitUntilAnswering(target: OutageTarget): Promise<void> {
  await retryUntil(
    () =>
      target.engine.probe(target.host, target.port, Math.min(1000, target.readyMs), target.probe),
    {
      budgetMs: target.readyMs,
      delayMs: (attempt) => Math.min(10 * attempt, 100),
      // Only the probe's own failures (KubecacheErrors) mean "not up yet".
      shouldRetry: (err) => isKubecacheError(err),
      onExhausted: (last) =>
        new KubecacheError(
          'TIMEOUT',
          `${target.engine.name} in pod ${target.podName} did not answer within ${target.readyMs} ms after being started again ` +
            `(last error: ${(last as Error | undefined)?.message ?? 'none'}). Its logs (describe()) say why; raise timeouts.probeMs for slow images.`,
          { pod: target.podName, readyMs: target.readyMs },
        ),
    },
  );
}
