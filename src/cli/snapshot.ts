import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { KubecacheError } from '../errors.js';
import { listPods } from '../kube/pods.js';
import { startPortForward } from '../kube/port-forward.js';
import { tcpReachable } from '../kube/reachability.js';
import { LABEL_ENGINE, managedSelector } from '../names.js';
import { snapshotRedis } from '../seed/snapshot.js';
import { EXIT } from './exit-codes.js';
import { type CliIO, globalFlags, printJson } from './io.js';
import { connect, loadCliContext } from './target.js';

const REDIS_PORT = 6379;
const DEFAULT_TIMEOUT_MS = 120_000;

function parseMs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError('expected milliseconds, a positive integer.');
  return n;
}

export function snapshotCommand(io: CliIO): Command {
  return new Command('snapshot')
    .description("stream a redis cache pod's dataset into an RDB file (usable as a fixture)")
    .argument('<pod>', 'a kubecache redis pod, as "kubecache ls" lists it')
    .argument('<file>', 'where to write the RDB file')
    .option('--timeout <ms>', `deadline for the transfer (default ${DEFAULT_TIMEOUT_MS})`, parseMs)
    .action(async (podName: string, file: string, opts: { timeout?: number }, cmd: Command) => {
      const flags = globalFlags(cmd);
      const ctx = await loadCliContext(flags, io.cwd, io.env);
      const handle = await connect(ctx);
      // Only kubecache's own pods: this command must not become a way to
      // copy data out of arbitrary workloads.
      const pod = (await listPods(handle, managedSelector())).find(
        (p) => p.metadata?.name === podName,
      );
      if (!pod) {
        throw new KubecacheError(
          'POD_GONE',
          `no kubecache pod ${podName} in namespace ${handle.namespace}. "kubecache ls" lists the cache pods; pass --namespace if it lives elsewhere.`,
          { pod: podName, namespace: handle.namespace },
        );
      }
      const engine = pod.metadata?.labels?.[LABEL_ENGINE];
      if (engine !== 'redis') {
        throw new KubecacheError(
          'BAD_OPTION',
          `pod ${podName} runs ${engine ?? 'an unknown engine'}; snapshots are RDB files, which only redis writes.`,
          { pod: podName, engine },
        );
      }
      const podIP = pod.status?.podIP;
      if (pod.status?.phase !== 'Running' || !podIP) {
        throw new KubecacheError(
          'POD_GONE',
          `pod ${podName} is not running (phase ${pod.status?.phase ?? 'unknown'}); only a running cache can be snapshotted.`,
          { pod: podName, phase: pod.status?.phase },
        );
      }
      // The same choice as endpoint "auto": the pod IP when it answers from
      // here, a port-forward otherwise.
      const direct = await tcpReachable(
        podIP,
        REDIS_PORT,
        ctx.cluster.timeouts.reachabilityProbeMs,
      );
      const forward = direct ? undefined : await startPortForward(handle, podName, REDIS_PORT);
      try {
        const endpoint = forward
          ? { host: forward.host, port: forward.port }
          : { host: podIP, port: REDIS_PORT };
        // Diskless, so the transfer never overwrites the dump.rdb a seeded
        // cache resets to.
        const result = await snapshotRedis(endpoint, resolve(io.cwd, file), {
          timeoutMs: opts.timeout ?? DEFAULT_TIMEOUT_MS,
          diskless: true,
        });
        const via = forward ? 'port-forward' : 'pod-ip';
        if (flags.json)
          printJson(io, { pod: podName, namespace: handle.namespace, file, via, ...result });
        else
          io.out(
            `wrote ${file}: ${result.bytes} bytes, RDB version ${result.rdbVersion}, from ${podName} (${via})`,
          );
      } finally {
        await forward?.close();
      }
      io.exitCode = EXIT.OK;
    });
}
