import createDebug from 'debug';
import type { ResolvedCacheConfig } from '../config/options.js';
import type { EngineDefinition } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import type { KubeHandle } from '../kube/client.js';
import type { V1Pod } from '../kube/client-node.js';
import {
  buildCachePolicy,
  createNetworkPolicy,
  deleteNetworkPolicy,
} from '../kube/network-policy.js';
import type { SecretMount } from '../kube/pod-spec.js';
import { createSecret, deleteSecret, patchSecretOwner } from '../kube/pods.js';
import type { RunCertificateAuthority } from '../security/ca.js';
import type { CacheLogins } from '../security/credentials.js';
import { podOwner, podSecret } from './pod-secret.js';

const debug = createDebug('kubecache:security');

/** Where the pod-owned Secret is mounted in the cache container (read-only). */
export const SECRET_MOUNT_PATH = '/etc/kubecache';

/** What one locked cache pod needs from creation to teardown. */
export interface SecurityPlan {
  logins?: CacheLogins;
  /** Server arguments that go before the user's. */
  args: string[];
  /** Wraps the final argv (memcached's SASL database step). */
  wrapCommand(argv: string[]): string[];
  mount?: SecretMount;
  /** Filled once the pod name is known (beforeCreate). */
  tls?: { ca: string; servername: string };
  networkPolicy: boolean;
  /** Before the pod: the Secret with the ACL / SASL files and the TLS pair. */
  beforeCreate(pod: V1Pod): Promise<void>;
  /** Right after the pod was accepted: owner reference on the Secret, the NetworkPolicy. */
  afterCreate(pod: V1Pod): Promise<void>;
  /** The start failed: remove what was created rather than waiting for the garbage collector. */
  cleanup(): Promise<void>;
}

/**
 * Locks caches: per-pod logins (redis ACL, memcached SASL), an optional TLS
 * pair signed by a per-run CA, and an optional NetworkPolicy. Secrets are
 * owned by their pod, so they die with it even when nobody tears down.
 */
export class CacheSecurity {
  private ca: Promise<RunCertificateAuthority> | undefined;
  /** Policies created by this run, deleted by name at teardown. */
  readonly policies = new Set<string>();

  constructor(
    private readonly handle: KubeHandle,
    private readonly runId: string,
    /** How long the run's CA stays valid: the pods' activeDeadlineSeconds. */
    private readonly validForMs: number,
    private readonly runnerLabels: () => Record<string, string> | undefined,
  ) {}

  /** Checks the options against the engine before any pod exists. */
  check(engine: EngineDefinition, config: ResolvedCacheConfig): void {
    if (config.tls && engine.security.tlsUnsupported) {
      throw new KubecacheError(
        'BAD_OPTION',
        `tls: true is not available for ${engine.name}: ${engine.security.tlsUnsupported}. Remove tls for this engine (e.g. engines.${engine.name}.tls: false).`,
        { field: 'tls', value: true, engine: engine.name },
      );
    }
  }

  plan(input: {
    engine: EngineDefinition;
    config: ResolvedCacheConfig;
    secretName: string;
    labels: Record<string, string>;
  }): SecurityPlan {
    const { engine, config, secretName } = input;
    this.check(engine, config);
    const secured = config.auth || config.tls;
    const serverInput = {
      dir: SECRET_MOUNT_PATH,
      port: engine.port,
      auth: config.auth,
      tls: config.tls,
    };
    const logins = config.auth ? engine.security.newLogins() : undefined;
    let created = false;
    let policy: string | undefined;
    const plan: SecurityPlan = {
      ...(logins ? { logins } : {}),
      args: engine.security.serverArgs(serverInput),
      wrapCommand: (argv) => engine.security.wrapCommand?.(argv, serverInput) ?? argv,
      ...(secured ? { mount: { secretName, mountPath: SECRET_MOUNT_PATH } } : {}),
      networkPolicy: config.networkPolicy,
      beforeCreate: async (pod) => {
        if (!secured) return;
        const podName = pod.metadata?.name ?? '';
        let tls: { certPem: string; keyPem: string; caPem: string } | undefined;
        if (config.tls) {
          const ca = await this.authority();
          const server = await ca.issueServer(podName);
          tls = { certPem: server.certPem, keyPem: server.keyPem, caPem: ca.caPem };
          plan.tls = { ca: ca.caPem, servername: server.servername };
        }
        const files = engine.security.secretFiles({
          ...(logins ? { logins } : {}),
          acl: config.acl,
          ...(tls ? { tls } : {}),
        });
        await createSecret(this.handle, podSecret(secretName, input.labels, pod, files));
        created = true;
      },
      afterCreate: async (pod) => {
        const owner = podOwner(pod);
        await Promise.all([
          created ? patchSecretOwner(this.handle, secretName, owner) : undefined,
          config.networkPolicy ? this.createPolicy(pod, engine.port) : undefined,
        ]);
        if (config.networkPolicy) policy = owner.name;
      },
      cleanup: async () => {
        await Promise.all([
          created ? deleteSecret(this.handle, secretName).catch(() => undefined) : undefined,
          policy ? this.deletePolicy(policy).catch(() => undefined) : undefined,
        ]);
      },
    };
    return plan;
  }

  private async createPolicy(pod: V1Pod, port: number): Promise<void> {
    const runnerLabels = this.runnerLabels();
    const body = buildCachePolicy({ pod, port, ...(runnerLabels ? { runnerLabels } : {}) });
    await createNetworkPolicy(this.handle, body);
    this.policies.add(body.metadata?.name ?? '');
    debug('network policy %s admits %o', body.metadata?.name, runnerLabels ?? 'the namespace');
  }

  async deletePolicy(name: string): Promise<void> {
    await deleteNetworkPolicy(this.handle, name);
    this.policies.delete(name);
  }

  /** Deletes the run's policies (the garbage collector would too, once their pods are gone). */
  async teardown(): Promise<void> {
    await Promise.all([...this.policies].map((name) => this.deletePolicy(name).catch(() => {})));
  }

  private authority(): Promise<RunCertificateAuthority> {
    this.ca ??= (async () => {
      // Loaded on first use: runs without TLS never load the X.509 library.
      const { RunCertificateAuthority } = await import('../security/ca.js');
      return RunCertificateAuthority.create(this.runId, this.validForMs);
    })();
    this.ca.catch(() => {
      this.ca = undefined;
    });
    return this.ca;
  }
}
