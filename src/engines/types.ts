import type { AclProfile } from '../config/options.js';
import type { CacheLogins } from '../security/credentials.js';
import type { ProbeOptions } from './probe.js';

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
  probe(host: string, port: number, timeoutMs: number, opts?: ProbeOptions): Promise<void>;
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
  /** Why `tls: true` cannot work with this engine, or undefined when it can. */
  readonly tlsUnsupported?: string;
  newLogins(): CacheLogins;
  secretFiles(input: SecretFilesInput): Record<string, string>;
  /** Server arguments that read the Secret's files; go before the user's args. */
  serverArgs(input: SecureServerInput): string[];
  /** Wraps the server argv when a step must run first (memcached: its SASL database). */
  wrapCommand?(argv: string[], input: SecureServerInput): string[];
}
