import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import createDebug from 'debug';
import { readSeedBind, readSeedTransport } from '../config/env.js';
import { retryUntil } from '../deadline.js';
import { supervise } from '../engines/supervisor.js';
import type { EngineServer } from '../engines/types.js';
import { isKubecacheError, KubecacheError } from '../errors.js';
import type { KubeHandle } from '../kube/client.js';
import type { V1EnvVar, V1Pod } from '../kube/client-node.js';
import { execInPod } from '../kube/exec.js';
import { createSecret, deleteSecret, patchSecretOwner } from '../kube/pods.js';
import { pickAdvertiseHost } from '../seed/advertise.js';
import {
  buildSeedCommand,
  execPushCommand,
  PUSH_CUT_SHORT_EXIT,
  SEED_TOKEN_ENV,
  SEED_URL_ENV,
  type SeedTransport,
} from '../seed/loader-script.js';
import {
  checkRdbLoadable,
  explainRefusal,
  parseServerIdentity,
  type ServerIdentity,
} from '../seed/rdb-compat.js';
import { RdbEndpoint } from '../seed/rdb-endpoint.js';
import { FixtureRegistry, type RdbFixtureInfo } from '../seed/rdb-file.js';
import { queryServerInfo } from '../seed/server-info.js';
import { podOwner, podSecret } from './pod-secret.js';
import type { SeedRequest } from './types.js';

type SeedTransportChoice = 'http' | 'exec' | 'auto';

const debug = createDebug('kubecache:seed');

/** What the pod builder and the start sequence need for one seeded pod. */
export interface SeedPlan {
  transport: SeedTransport;
  commandOverride: string[];
  extraEnv: V1EnvVar[];
  /** Before the pod: the Secret with the one-time URL and token (http). */
  beforeCreate(pod: V1Pod): Promise<void>;
  /** Right after the pod was accepted: owner reference on the Secret. */
  afterCreate(pod: V1Pod): Promise<void>;
  /**
   * While the pod starts: push the file through exec stdin (exec). `signal`
   * aborts when the start is over, ready or failed: no push after that.
   */
  duringStart(podName: string, signal?: AbortSignal): Promise<void>;
  /** Ready or failed: the download entry is no longer needed. */
  done(): void;
  /** The start failed: remove the Secret now rather than waiting for the garbage collector. */
  cleanup(): Promise<void>;
}

/**
 * Whether a failed exec push is worth another one. Until the pod is scheduled
 * and its container exists the API refuses the exec (400 "no host assigned",
 * "container not found", ...), a connection can drop, and a push whose stream
 * ended early says so by its exit status; the push is idempotent. Final: a
 * missing permission, an unreadable fixture, and a command that failed for
 * another reason (no room, no write access), which would fail the same way.
 */
export function pushRetryable(err: unknown): boolean {
  if (!isKubecacheError(err)) return true;
  if (err.code === 'FORBIDDEN' || err.code === 'BAD_FIXTURE') return false;
  const exitCode = err.details.exitCode;
  return exitCode === undefined || exitCode === PUSH_CUT_SHORT_EXIT;
}

/**
 * Broker-side seeding: validates fixtures once before any pod starts, serves
 * RDB files to pods from an authenticated in-process endpoint, or pushes
 * them through exec when pods cannot reach this process.
 */
export class Seeder {
  private readonly fixtures = new FixtureRegistry();
  /** The server in each image, learned from its first ready pod (or a refusal in a failed one's log). */
  private readonly servers = new Map<string, ServerIdentity>();
  private readonly learning = new Set<string>();
  private endpoint: Promise<RdbEndpoint> | undefined;

  constructor(
    private readonly handle: KubeHandle,
    private readonly env: NodeJS.ProcessEnv,
    private readonly timeouts: { podRunningMs: number; execMs: number },
  ) {}

  /**
   * Checks a seed before any pod exists, so a bad fixture costs no pod. An
   * RDB fixture is also checked against the server that will load it: the
   * declared maxRdbVersion, or the server learned from the image's pods.
   */
  async validate(
    engine: EngineServer,
    seed: SeedRequest,
    target: { image: string; maxRdbVersion?: number } = { image: engine.defaultImage },
  ): Promise<RdbFixtureInfo | undefined> {
    if (seed.kind === 'rdb') {
      if (!engine.rdbSeeds) {
        throw new KubecacheError(
          'BAD_OPTION',
          `seed: an RDB fixture (${seed.path}) does not work with the ${engine.name} engine, which has no RDB format; use a JSON seed.`,
          { field: 'seed', value: seed },
        );
      }
      const info = await this.fixtures.validate(seed.path);
      const server = this.servers.get(target.image);
      // What the engine declares for its default image stands in until the
      // image's own server is known; the user's maxRdbVersion wins over both.
      const declared =
        target.maxRdbVersion ??
        (!server && target.image === engine.defaultImage ? engine.maxRdbVersion : undefined);
      checkRdbLoadable(
        info.path,
        { magic: info.rdbMagic, version: info.rdbVersion },
        {
          image: target.image,
          ...(server ? { server } : {}),
          ...(declared === undefined ? {} : { maxRdbVersion: declared }),
        },
      );
      return info;
    }
    if (seed.kind === 'json') {
      // Parsed here for the early error; the worker applies it through its own client.
      await engine.loadJsonSeed(seed.path);
    }
    return undefined;
  }

  /** The transport for `auto`: http when pods can reach an address of this process, else exec. */
  chooseTransport(requested: SeedTransportChoice | undefined, podIP?: string): SeedTransport {
    const wanted = requested ?? readSeedTransport(this.env) ?? 'auto';
    if (wanted === 'http' || wanted === 'exec') return wanted;
    if (wanted !== 'auto') {
      throw new KubecacheError(
        'BAD_OPTION',
        `the seed transport ${JSON.stringify(wanted)} (seed: {kind: "rdb", path, transport}) is not one of "http", "exec", "auto".`,
        { field: 'seedTransport', value: wanted, accepted: ['http', 'exec', 'auto'] },
      );
    }
    try {
      this.advertise(podIP);
      return 'http';
    } catch {
      return 'exec';
    }
  }

  private advertise(podIP?: string): { host: string; port?: number } {
    // Before the first cache has an IP, the API server's address locates the
    // pod network on clusters like the dev cluster, where it sits on the bridge.
    const server = new URL(this.handle.server).hostname;
    return pickAdvertiseHost({
      interfaces: networkInterfaces(),
      podIP: podIP ?? server,
      env: this.env,
      inCluster: this.handle.inCluster,
    });
  }

  private rdbEndpoint(): Promise<RdbEndpoint> {
    this.endpoint ??= (async () => {
      const choice = this.advertise();
      const bind = readSeedBind(this.env) ?? choice.host;
      const ep = await RdbEndpoint.start({
        host: bind,
        ...(choice.port ? { port: choice.port } : {}),
        advertiseHost: choice.host,
      });
      debug('RDB endpoint at %s (bound to %s)', ep.baseUrl, bind);
      return ep;
    })();
    this.endpoint.catch(() => {
      this.endpoint = undefined;
    });
    return this.endpoint;
  }

  /** Everything one seeded redis pod needs; the Secret's name follows the pod's. */
  async plan(input: {
    engine: EngineServer;
    args: string[];
    file: RdbFixtureInfo;
    transport: SeedTransport;
    /** Unique per pod; the Secret holding the one-time URL and token. */
    secretName: string;
    labels: Record<string, string>;
  }): Promise<SeedPlan> {
    const { file, transport } = input;
    // The loader execs the supervised server once the fixture is in place.
    const redisArgv = supervise(
      input.engine.command({ args: [...input.engine.seededArgs, ...input.args] }),
    );
    const commandOverride = buildSeedCommand({
      transport,
      redisArgv,
      expectedSize: file.size,
      expectedSha256: file.sha256,
      markerTimeoutSeconds: Math.ceil(this.timeouts.podRunningMs / 1000),
    });
    if (transport === 'exec') {
      return {
        transport,
        commandOverride,
        extraEnv: [],
        beforeCreate: async () => {},
        afterCreate: async () => {},
        duringStart: (podName, signal) =>
          this.pushThroughExec(podName, input.engine.containerName, file, signal),
        done: () => {},
        cleanup: async () => {},
      };
    }
    const endpoint = await this.rdbEndpoint();
    let registrationId: string | undefined;
    const secret = input.secretName;
    return {
      transport,
      commandOverride,
      extraEnv: [SEED_URL_ENV, SEED_TOKEN_ENV].map((name) => ({
        name,
        valueFrom: { secretKeyRef: { name: secret, key: name === SEED_URL_ENV ? 'url' : 'token' } },
      })),
      beforeCreate: async (pod) => {
        const podName = pod.metadata?.name ?? '';
        const reg = endpoint.register({ file, podName, ttlMs: this.timeouts.podRunningMs });
        registrationId = reg.id;
        const body = podSecret(secret, input.labels, pod, { url: reg.url, token: reg.token });
        await createSecret(this.handle, body);
      },
      afterCreate: async (pod) => {
        await patchSecretOwner(this.handle, secret, podOwner(pod));
      },
      duringStart: async () => {},
      done: () => {
        if (registrationId) endpoint.expire(registrationId);
      },
      cleanup: () => deleteSecret(this.handle, secret).catch(() => undefined),
    };
  }

  /**
   * Streams the fixture into the container while its loader waits for the
   * marker. Retries while the container does not exist yet, and after a
   * dropped connection (the push command hands over only a whole file), until
   * `signal` says the start is over: a start that failed deletes its pod, and
   * pushes into it then would only be refused until podRunningMs ran out.
   */
  private async pushThroughExec(
    podName: string,
    container: string,
    file: RdbFixtureInfo,
    signal?: AbortSignal,
  ): Promise<void> {
    const startOver = (): KubecacheError =>
      new KubecacheError(
        'EXEC_FAILED',
        `pushing ${file.path} into ${podName} stopped: the start of the pod ended first.`,
        { pod: podName, cancelled: true },
      );
    await retryUntil(
      async () => {
        if (signal?.aborted) throw startOver();
        // One stream per attempt, always closed: an attempt refused before it
        // read stdin would otherwise leave its file descriptor open.
        const stdin = createReadStream(file.path);
        // Without a listener a read error (the fixture deleted or moved
        // during the run) would be an uncaught exception in the runner.
        let readError: Error | undefined;
        stdin.on('error', (err) => {
          readError = err;
        });
        const r = await execInPod(this.handle, {
          pod: podName,
          container,
          command: execPushCommand(file.size),
          stdin,
          timeoutMs: this.timeouts.execMs,
        }).finally(() => stdin.destroy());
        if (readError) {
          throw new KubecacheError(
            'BAD_FIXTURE',
            `reading ${file.path} to push it into ${podName} failed: ${readError.message}. The fixture must stay in place until the run's caches have started.`,
            { pod: podName, path: file.path },
          );
        }
        if (r.exitCode === PUSH_CUT_SHORT_EXIT) {
          // Retried (pushRetryable); the message is for the last attempt.
          throw new KubecacheError(
            'EXEC_FAILED',
            `pushing ${file.path} into ${podName} was cut short: ${r.stderr.trim() || 'the stream ended early'}. ` +
              'The exec stream to the pod kept ending before the whole file arrived, until timeouts.podRunningMs ran out: ' +
              'the API server or the connection to it was dropping. Check that the cluster is healthy, ' +
              "or seed over http (KUBECACHE_SEED_TRANSPORT=http, or transport: 'http' in the seed).",
            { pod: podName, exitCode: r.exitCode },
          );
        }
        if (r.exitCode !== 0) {
          throw new KubecacheError(
            'EXEC_FAILED',
            `pushing ${file.path} into ${podName} failed with exit code ${r.exitCode}: ${r.stderr.trim() || 'no output'}. ` +
              "Seeding by exec writes the fixture into the pod's data directory with sh, cat and mv: the image needs them, " +
              "and the directory must be writable by the cache's user (the uid option) and have room for the file.",
            { pod: podName, exitCode: r.exitCode },
          );
        }
      },
      {
        budgetMs: this.timeouts.podRunningMs,
        delayMs: (attempt) => Math.min(25 * attempt, 200),
        // Until the pod is scheduled and its container exists the API refuses
        // the exec (400 "no host assigned", "container not found", ...), and a
        // connection can drop; the push is idempotent, so every failure but a
        // missing permission, a failed command, an unreadable fixture or the
        // end of the start is worth another try.
        shouldRetry: (err) => {
          if (signal?.aborted || !pushRetryable(err)) return false;
          debug('push into %s not possible yet (%s)', podName, (err as Error).message);
          return true;
        },
      },
    );
    debug('pushed %s (%d bytes) into %s by exec', file.path, file.size, podName);
  }

  /**
   * Learns which server an image runs from one of its ready pods (INFO
   * server), once per image; later RDB fixtures for it are then checked
   * before their pod starts. Never fails: unknown just means "not checked yet".
   */
  async learnServer(image: string, host: string, port: number, timeoutMs: number): Promise<void> {
    if (this.servers.has(image) || this.learning.has(image)) return;
    this.learning.add(image);
    try {
      const info = await queryServerInfo(host, port, timeoutMs);
      const server = info === undefined ? undefined : parseServerIdentity(info);
      if (server) {
        this.servers.set(image, server);
        debug('image %s runs %s %s', image, server.name, server.version);
      }
    } finally {
      this.learning.delete(image);
    }
  }

  /** The server learned for an image, if any. */
  serverOf(image: string): ServerIdentity | undefined {
    return this.servers.get(image);
  }

  /**
   * A seeded pod that failed because its server refused the fixture's RDB
   * version: the error naming both versions (and the server is remembered,
   * so the next fixture for the image is checked before its pod).
   */
  explainFailure(err: unknown, file: RdbFixtureInfo, image: string): KubecacheError | undefined {
    const logs = (err as KubecacheError | undefined)?.details?.logs;
    if (typeof logs !== 'string') return undefined;
    const found = explainRefusal(
      file.path,
      { magic: file.rdbMagic, version: file.rdbVersion },
      image,
      logs,
    );
    if (!found) return undefined;
    if (found.server) this.servers.set(image, found.server);
    return found.error;
  }

  /**
   * Proves the http seed route for a running pod (kubecache doctor): serves a
   * small file from the same endpoint fixtures use and fetches it with the
   * loader's own wget from inside the pod. `transport` is what "auto" would
   * pick; `reason` says why when that is exec.
   */
  async probeRoute(
    podName: string,
    container: string,
    podIP: string,
  ): Promise<{ transport: SeedTransport; url?: string; reachable: boolean; reason?: string }> {
    let choice: { host: string; port?: number };
    try {
      choice = this.advertise(podIP);
    } catch (err) {
      return { transport: 'exec', reachable: false, reason: (err as Error).message };
    }
    const endpoint = await this.rdbEndpoint();
    const dir = await mkdtemp(join(tmpdir(), 'kubecache-route-'));
    const path = join(dir, 'probe');
    const body = `kubecache seed route probe for ${podName}\n`;
    await writeFile(path, body);
    const file: RdbFixtureInfo = {
      path,
      size: Buffer.byteLength(body),
      sha256: createHash('sha256').update(body).digest('hex'),
      rdbVersion: 0,
      rdbMagic: 'REDIS',
      mtimeMs: Date.now(),
    };
    const reg = endpoint.register({ file, podName, ttlMs: this.timeouts.execMs });
    try {
      // The token goes through stdin, not argv, so it stays out of the API
      // server's audit log.
      const r = await execInPod(this.handle, {
        pod: podName,
        container,
        command: [
          'sh',
          '-c',
          // No -T: the dev cluster's static busybox wget crashes with it; the
          // exec's own deadline bounds the wait instead.
          'read -r t; wget -q -O /dev/null --header "Authorization: Bearer $t" "$1"',
          'kubecache-route',
          reg.url,
        ],
        stdin: `${reg.token}\n`,
        timeoutMs: this.timeouts.execMs,
      });
      const reachable = r.exitCode === 0;
      return {
        transport: 'http',
        url: endpoint.baseUrl,
        reachable,
        ...(reachable
          ? {}
          : {
              reason: `wget in pod ${podName} exited with ${r.exitCode}: ${r.stderr.trim() || '(no output)'} (advertised host ${choice.host})`,
            }),
      };
    } finally {
      endpoint.expire(reg.id);
      await rm(dir, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    const ep = await this.endpoint?.catch(() => undefined);
    await ep?.close();
  }
}
