export type EngineName = 'redis' | 'memcached';

export const ENGINE_NAMES: readonly EngineName[] = ['redis', 'memcached'];

export interface EngineCommandOptions {
  /** Extra server arguments from the user's config, appended after kubecache's own. */
  args: string[];
}

export interface EngineDefinition {
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
  /** Full argv for the container, replacing the image's entrypoint. */
  command(opts: EngineCommandOptions): string[];
  /**
   * Resolves once the server answers its protocol on host:port, rejects with
   * a KubecacheError (TIMEOUT or UNREACHABLE) otherwise. One attempt only:
   * callers retry while the pod starts.
   */
  probe(host: string, port: number, timeoutMs: number): Promise<void>;
}
