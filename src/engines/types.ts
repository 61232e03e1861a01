export type EngineName = 'redis' | 'memcached';

export const ENGINE_NAMES: readonly EngineName[] = ['redis', 'memcached'];

export interface Endpoint {
  host: string;
  port: number;
}

export interface EngineCommandOptions {
  /** Extra server arguments from the user's config, appended after kubecache's own. */
  args: string[];
}

export interface SnapshotResult {
  bytes: number;
  rdbVersion: number;
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
  /**
   * Working directory backed by an emptyDir. Set for engines that may write
   * files there (redis dumps when a user re-enables persistence); the image's
   * own directory is not writable for the non-root user the pod runs as.
   */
  readonly dataDir?: string;
  /** Whether an RDB fixture can be loaded into the server before it starts. */
  readonly rdbSeeds: boolean;
  /**
   * Server arguments every seeded cache gets (before the user's), so that the
   * worker can keep the seeded state and reset back to it.
   */
  readonly seededArgs: readonly string[];
  /** Full argv for the container, replacing the image's entrypoint. */
  command(opts: EngineCommandOptions): string[];
  /**
   * Resolves once the server answers its protocol on host:port, rejects with
   * a KubecacheError (TIMEOUT or UNREACHABLE) otherwise. One attempt only:
   * callers retry while the pod starts.
   */
  probe(host: string, port: number, timeoutMs: number): Promise<void>;
  /** Reads and validates a JSON seed file (the broker's early check before any pod). */
  loadJsonSeed(path: string): Promise<unknown>;
}

/**
 * Worker-side operations on one engine through its client: what a test's
 * cache handle does. Never imports client-node (Jest's CJS workers load it).
 */
export interface EngineClientOps<C = unknown, J = unknown> {
  /** A client connected (or connecting on first use) to the cache. */
  connect(endpoint: Endpoint): Promise<C>;
  /** Closes the client without hanging on a vanished pod. */
  close(client: C): Promise<void>;
  loadJsonSeed(path: string): Promise<J>;
  applyJsonSeed(client: C, seed: J): Promise<void>;
  /** Empties the cache. */
  flush(client: C): Promise<void>;
  /**
   * Engines that can hold on to a seeded state (redis: SAVE to its dump.rdb)
   * set both; reset then restores it instead of flushing and seeding again.
   */
  keepSeed?(client: C): Promise<void>;
  restoreSeed?(client: C): Promise<void>;
  /** Copies the live dataset to an RDB file on this machine, when the engine has one. */
  snapshot?(endpoint: Endpoint, path: string): Promise<SnapshotResult>;
}

export interface EngineDefinition<C = unknown, J = unknown> extends EngineServer {
  readonly clientOps: EngineClientOps<C, J>;
}
