import { Readable, Writable } from 'node:stream';
import createDebug from 'debug';
import { KubecacheError } from '../errors.js';
import type { ApiCall } from './api-error.js';
import type { KubeHandle } from './client.js';
import { Exec, type V1Status } from './client-node.js';
import { wsError } from './ws-error.js';

const debug = createDebug('kubecache:exec');

export interface ExecRequest {
  pod: string;
  container: string;
  command: string[];
  /** Sent to the command's stdin, then stdin is closed (v5 channel protocol). */
  stdin?: Buffer | string | Readable | undefined;
  timeoutMs: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Exit code from the status channel: Success, or NonZeroExitCode with an ExitCode cause. */
export function exitCodeOf(status: V1Status): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.reason === 'NonZeroExitCode') {
    const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
    const code = Number(cause?.message);
    return Number.isInteger(code) ? code : undefined;
  }
  return undefined;
}

/**
 * Runs a command in a container and resolves with its exit code and output.
 * client-node's Exec only hands back the socket; this adds what tests need:
 * a timeout, and a rejection when the socket closes without a status (a
 * killed container or a dropped connection) instead of hanging forever.
 */
export async function execInPod(handle: KubeHandle, req: ExecRequest): Promise<ExecResult> {
  const stdout = new Collector();
  const stderr = new Collector();
  const call: ApiCall = {
    verb: 'create',
    resource: 'pods',
    subresource: 'exec',
    namespace: handle.namespace,
    name: req.pod,
  };
  let stdin: Readable | null = null;
  if (req.stdin !== undefined) {
    stdin =
      req.stdin instanceof Readable
        ? req.stdin
        : Readable.from(typeof req.stdin === 'string' ? [Buffer.from(req.stdin)] : [req.stdin]);
  }
  const t0 = Date.now();
  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    let status: V1Status | undefined;
    let socket: { close(): void; terminate?: () => void } | undefined;
    const finish = (err: Error | null, result?: ExecResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      debug(
        '%s %o: %s in %d ms',
        req.pod,
        req.command,
        err ? err.message : `exit ${result?.exitCode}`,
        Date.now() - t0,
      );
      if (err) {
        socket?.terminate?.();
        reject(err);
      } else if (result) resolve(result);
    };
    const timer = setTimeout(() => {
      finish(
        new KubecacheError(
          'TIMEOUT',
          `exec ${JSON.stringify(req.command)} in pod ${req.pod} did not finish within ${req.timeoutMs} ms: the command ran long, or the API server, which carries every exec, did not answer in time. If the cluster is healthy (kubectl get pods answers), raise timeouts.execMs for slow commands.`,
          { pod: req.pod, command: req.command, stdout: stdout.text(), stderr: stderr.text() },
        ),
      );
    }, req.timeoutMs);
    timer.unref();

    new Exec(handle.kc)
      .exec(
        handle.namespace,
        req.pod,
        req.container,
        req.command,
        stdout,
        stderr,
        stdin,
        false,
        (s: V1Status) => {
          status = s;
        },
      )
      .then((ws) => {
        socket = ws;
        if (settled) ws.close();
        ws.on('close', () => {
          if (!status) {
            finish(
              new KubecacheError(
                'EXEC_FAILED',
                `exec ${JSON.stringify(req.command)} in pod ${req.pod}: the connection closed without an exit status: the container was not running (not started yet, or stopped), the pod was deleted, or the connection to the API server dropped.`,
                { pod: req.pod, stdout: stdout.text(), stderr: stderr.text() },
              ),
            );
            return;
          }
          const exitCode = exitCodeOf(status);
          if (exitCode === undefined) {
            finish(
              new KubecacheError(
                'EXEC_FAILED',
                `exec ${JSON.stringify(req.command)} in pod ${req.pod} failed: ${status.message ?? status.reason ?? 'unknown status'}`,
                { pod: req.pod, status, stderr: stderr.text() },
              ),
            );
            return;
          }
          finish(null, { exitCode, stdout: stdout.text(), stderr: stderr.text() });
        });
        ws.on('error', (err: Error) => finish(wsError(err, call)));
      })
      .catch((err: unknown) => finish(wsError(err, call)));
  });
}
