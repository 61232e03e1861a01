import type { AclProfile } from '../config/options.js';
import type { CacheLogins } from '../security/credentials.js';
import type { ProbeOptions } from './probe.js';

export type EngineName = 'redis' | 'memcached' | 'valkey';

export const ENGINE_NAMES: readonly EngineName[] = ['redis', 'memcached', 'valkey'];

export interface Endpoint {
  host: string;
  port: number;
}

/** How a client reaches a locked cache: its login and, with TLS, what to trust. */
export interface CacheAccess {
  login?: { username: string; password: string };
  tls?: { ca: string; servername: string };
}

export interface EngineCommandOptions {
  /** Extra server arguments from the user's config, appended after kubecache's own. */
  args: string[];
}

export interface ConnectHooks {
  /**
   * While true (an outage the test asked for is in progress) the client keeps
   * reconnecting instead of giving up after its usual few attempts.
   */
  keepRetrying(): boolean;
}

/** Test-side choices for a client, beside the access the broker hands out. */
export interface ConnectOptions {
  hooks?: ConnectHooks;
  /** The client library (one of EngineClientOps.clients); the first is the default. */
  client?: string;
  /** The user's own client options (useCache's `clientOptions`), passed through; access options win. */
  clientOptions?: Record<string, unknown>;
}

export interface SnapshotResult {
  bytes: number;
  rdbVersion: number;
}

/** snapshot()'s limit when the caller sets none (`timeoutMs`, `--timeout-ms`). */
export const DEFAULT_SNAPSHOT_TIMEOUT_MS = 60_000;

/** How to take one snapshot: the caller (a test's handle, the CLI) decides. */
export interface SnapshotRequest {
  /** Deadline for the whole transfer, connection included. */
  timeoutMs: number;
  /** The login (and TLS trust) to connect with; kubecache's admin login for a test. */
  access?: CacheAccess;
  /**
   * Words the next step of a TIMEOUT error: how this caller's user raises
   * timeoutMs to `suggestedMs` (a test and the CLI set it differently, and
   * the engine cannot tell which one called). Without it both are named.
   */
  raiseTimeout?: (suggestedMs: number) => string;
}

/**
 * What the main process needs to run an engine in a pod (server.ts of each
 * engine folder). Free of client libraries so the broker loads no client.
 */
export interface EngineServer {
  readonly name: EngineName;
  readonly defaultImage: string;
  readonly port: number;
  readonly containerName: string;
  /** Scheme of the `url` handed to tests (what clients of this protocol accept). */
  readonly urlScheme: string;
  /** The scheme with TLS (redis: rediss); left out by engines without TLS (security.tlsUnsupported). */
  readonly tlsUrlScheme?: string;
  /**
   * Working directory backed by an emptyDir. Set for engines that may write
   * files there (redis dumps when a user re-enables persistence); the image's
   * own directory is not writable for the non-root user the pod runs as.
   */
  readonly dataDir?: string;
  /** Whether an RDB fixture can be loaded into the server before it starts. */
  readonly rdbSeeds: boolean;
  /** Highest RDB format version the default image loads (checked before any pod starts). */
  readonly maxRdbVersion?: number;
  /**
   * Server arguments every RDB-seeded cache gets (before the user's), so that
   * the worker can reset back to the file it started from.
   */
  readonly seededArgs: readonly string[];
  /** Full argv for the container, replacing the image's entrypoint. */
  command(opts: EngineCommandOptions): string[];
  /**
   * Resolves once the server answers its protocol on host:port, rejects with
   * a KubecacheError (TIMEOUT or UNREACHABLE) otherwise. One attempt only:
   * callers retry while the pod starts.
   */
  probe(host: string, port: number, timeoutMs: number, opts?: ProbeOptions): Promise<void>;
  /** Reads and validates a JSON seed file (the broker's early check before any pod). */
  loadJsonSeed(path: string): Promise<unknown>;
  /** How the engine locks a cache (`auth`, `tls`); see docs/security.md. */
  readonly security: EngineSecurity;
}

/** What the pod-owned Secret carries for one cache, by file name. */
export interface SecretFilesInput {
  logins?: CacheLogins;
  acl: AclProfile;
  tls?: { certPem: string; keyPem: string; caPem: string };
}

/** Paths and switches the server command is built from. */
export interface SecureServerInput {
  /** Where the pod-owned Secret is mounted in the container. */
  dir: string;
  port: number;
  auth: boolean;
  tls: boolean;
}

export interface EngineSecurity {
  /**
   * Whether a cache is locked (`auth`) unless the options say otherwise:
   * true where a login costs nothing at start.
   */
  readonly authByDefault: boolean;
  /** Why `tls: true` cannot work with this engine, or undefined when it can. */
  readonly tlsUnsupported?: string;
  newLogins(): CacheLogins;
  secretFiles(input: SecretFilesInput): Record<string, string>;
  /** Server arguments that read the Secret's files; go before the user's args. */
  serverArgs(input: SecureServerInput): string[];
  /** Wraps the server argv when a step must run first (memcached: its SASL database). */
  wrapCommand?(argv: string[], input: SecureServerInput): string[];
}

/**
 * Worker-side operations on one engine through its client: what a test's
 * cache handle does. Never imports client-node (Jest's CJS workers load it).
 */
export interface EngineClientOps<C = unknown, J = unknown> {
  /** The client libraries a test may choose (the `client` option); the first is the default. */
  readonly clients: readonly string[];
  /** A client of the chosen library, connected (or connecting on first use) to the cache. */
  connect(endpoint: Endpoint, access?: CacheAccess, options?: ConnectOptions): Promise<C>;
  /** Resolves once the client talks to the server again after an outage. */
  reconnected?(client: C, timeoutMs: number): Promise<void>;
  /**
   * restart({keepData: true}): the dataset read before the server goes down
   * and written back once it is up. Engines that cannot list their keys
   * (memcached) leave these out.
   */
  captureData?(client: C): Promise<unknown>;
  restoreData?(client: C, data: unknown): Promise<void>;
  /**
   * The environment variable a cache's address goes to while it is open (for
   * application code that reads its config from the environment, as
   * jest-mongodb's MONGO_URL), and the value in the form that engine's
   * clients read.
   */
  readonly addressEnv: {
    readonly name: string;
    value(cache: { url: string; host: string; port: number }): string;
  };
  /** Closes the client without hanging on a vanished pod. */
  close(client: C): Promise<void>;
  loadJsonSeed(path: string): Promise<J>;
  applyJsonSeed(client: C, seed: J): Promise<void>;
  /** Empties the cache. */
  flush(client: C): Promise<void>;
  /**
   * Engines that load RDB fixtures go back to one in place (redis: DEBUG
   * RELOAD of the file it started from) instead of flushing and seeding again.
   */
  restoreSeed?(client: C): Promise<void>;
  /** Copies the live dataset to an RDB file on this machine, when the engine has one. */
  snapshot?(endpoint: Endpoint, path: string, request: SnapshotRequest): Promise<SnapshotResult>;
}

export interface EngineDefinition<C = unknown, J = unknown> extends EngineServer {
  readonly clientOps: EngineClientOps<C, J>;
}
