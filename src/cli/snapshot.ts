import { resolve } from 'node:path';
import { Command } from 'commander';
import { vTimeoutFlag } from '../config/validate.js';
import { getEngine, isEngineName } from '../engines/registry.js';
import { DEFAULT_SNAPSHOT_TIMEOUT_MS } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import type { V1Pod } from '../kube/client-node.js';
import { readPod } from '../kube/pods.js';
import { startPortForward } from '../kube/port-forward.js';
import { decideReachable } from '../kube/reachability.js';
import { LABEL_ENGINE, LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../names.js';
import { EXIT } from './exit-codes.js';
import { type CliIO, globalFlags, printJson } from './io.js';
import { connect, loadCliContext } from './target.js';

export interface SnapshotFlags {
  user?: string;
  passwordStdin?: boolean;
  timeoutMs?: number;
}

/** --timeout-ms, checked as commander parses it: a bad value is BAD_OPTION before any cluster call. */
export function parseTimeoutMs(value: string): number {
  return vTimeoutFlag('--timeout-ms', value);
}

/**
 * Pure: how a cache pod is locked, read from its container args (the redis
 * ACL file and TLS port that kubecache's security plan adds).
 */
export function podLocks(pod: V1Pod): { auth: boolean; tls: boolean } {
  const args =
    pod.spec?.containers?.flatMap((c) => [...(c.command ?? []), ...(c.args ?? [])]) ?? [];
  const text = args.join(' ');
  return { auth: /--aclfile\b|--requirepass\b/.test(text), tls: /--tls-port\b/.test(text) };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

export function snapshotCommand(io: CliIO): Command {
  return new Command('snapshot')
    .description("stream a redis cache pod's dataset into an RDB file (usable as a fixture)")
    .argument('<pod>', 'a kubecache redis pod, as "kubecache ls" lists it')
    .argument('<file>', 'where to write the RDB file')
    .option('--user <name>', 'login for a locked cache (auth on); needs the right to run SYNC')
    .option('--password-stdin', "read that login's password from standard input")
    .option(
      '--timeout-ms <n>',
      `limit for the whole transfer, in milliseconds (default ${DEFAULT_SNAPSHOT_TIMEOUT_MS})`,
      parseTimeoutMs,
    )
    .action(async (podName: string, file: string, opts: SnapshotFlags, cmd: Command) => {
      const flags = globalFlags(cmd);
      const ctx = await loadCliContext(flags, io.cwd, io.env);
      const handle = await connect(ctx);
      // Only kubecache's own pods: this command must not become a way to
      // copy data out of arbitrary workloads.
      const pod = await readPod(handle, podName);
      const ours = pod?.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE;
      if (!pod || !ours) {
        throw new KubecacheError(
          'POD_GONE',
          `no kubecache pod ${podName} in namespace ${handle.namespace}. "kubecache ls" lists the cache pods; pass --namespace if it lives elsewhere.`,
          { pod: podName, namespace: handle.namespace },
        );
      }
      const label = pod.metadata?.labels?.[LABEL_ENGINE];
      const engine = isEngineName(label) ? getEngine(label) : undefined;
      const snapshot = engine?.clientOps.snapshot;
      if (!engine || !snapshot) {
        throw new KubecacheError(
          'BAD_OPTION',
          `pod ${podName} runs ${label ?? 'an unknown engine'}, which has no snapshot: snapshots are RDB files, which only redis-protocol engines write.`,
          { pod: podName, engine: label },
        );
      }
      const locks = podLocks(pod);
      if (locks.tls) {
        throw new KubecacheError(
          'BAD_OPTION',
          `pod ${podName} serves TLS only, with a certificate from its run's in-memory CA that nothing outside the run can verify. Snapshot it from the test with cache.snapshot(path).`,
          { pod: podName },
        );
      }
      if (opts.passwordStdin && opts.user === undefined) {
        throw new KubecacheError('BAD_OPTION', '--password-stdin needs --user.', {
          field: '--user',
        });
      }
      if (locks.auth && opts.user === undefined) {
        throw new KubecacheError(
          'BAD_OPTION',
          `pod ${podName} is locked (auth on): its admin password exists only in the run that created it, and the Secret holds only hashes. Snapshot it from the test with cache.snapshot(path), or pass --user and --password-stdin with a login allowed to run SYNC (the lease's admin login).`,
          { pod: podName },
        );
      }
      const login =
        opts.user === undefined
          ? undefined
          : {
              username: opts.user,
              password: opts.passwordStdin ? (await readAll(io.stdin)).replace(/\r?\n$/, '') : '',
            };
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
      const direct = await decideReachable(
        podIP,
        engine.port,
        ctx.cluster.timeouts.reachabilityProbeMs,
        ctx.cluster.timeouts.reachabilityProbeMs,
      );
      const forward = direct ? undefined : await startPortForward(handle, podName, engine.port);
      try {
        const endpoint = forward
          ? { host: forward.host, port: forward.port }
          : { host: podIP, port: engine.port };
        // The engine's own snapshot, as cache.snapshot() in a test: for redis
        // a diskless SYNC, which never overwrites the dump.rdb a seeded cache
        // resets to.
        const result = await snapshot(endpoint, resolve(io.cwd, file), {
          timeoutMs: opts.timeoutMs ?? DEFAULT_SNAPSHOT_TIMEOUT_MS,
          ...(login ? { access: { login } } : {}),
          raiseTimeout: (ms) =>
            `run it again with a larger --timeout-ms, such as --timeout-ms ${ms}`,
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
