import type { ResolvedCacheConfig } from '../config/options.js';
import { supervise } from '../engines/supervisor.js';
import type { EngineDefinition } from '../engines/types.js';
import { KubecacheError } from '../errors.js';
import {
  ANNOTATION_HOST,
  ANNOTATION_LEASE,
  ANNOTATION_PID,
  configHash,
  LABEL_CONFIG_HASH,
  LABEL_ENGINE,
  LABEL_MANAGED_BY,
  LABEL_RUN,
  LABEL_WORKER,
  MANAGED_BY_VALUE,
  podName,
  sanitizeLabelValue,
} from '../names.js';
import type { V1EnvVar, V1Pod } from './client-node.js';

export interface PodOwner {
  apiVersion: 'v1';
  kind: 'Pod';
  name: string;
  uid: string;
  /** The runner pod's labels, for a NetworkPolicy that admits only it. */
  labels?: Record<string, string>;
}

/** The pod-owned Secret with a cache's ACL/SASL files and TLS pair, mounted read-only. */
export interface SecretMount {
  secretName: string;
  mountPath: string;
}

export interface CachePodInput {
  engine: EngineDefinition;
  config: ResolvedCacheConfig;
  namespace: string;
  runId: string;
  worker: string;
  leaseExpiresAt: Date;
  /** Recorded so an operator can tell which machine and process created a leaked pod. */
  host: string;
  pid: number;
  activeDeadlineSeconds: number;
  /** When kubecache itself runs in a pod, tie the cache's lifetime to it. */
  owner?: PodOwner;
  /** Tells apart successive pods of one worker (a replacement after the first was deleted). */
  instance?: string;
  /** Hook for seeding: extra variables for the cache container. */
  extraEnv?: V1EnvVar[];
  /** Hook for seeding: replaces the engine's argv, e.g. to wrap it in a loader script. */
  commandOverride?: string[];
  /** Hook for security: the Secret the engine reads its logins and TLS pair from. */
  secret?: SecretMount;
}

const DATA_VOLUME = 'data';
/** The volume of a locked cache's Secret; its presence marks a pod as locked. */
export const SECRET_VOLUME = 'kubecache-secret';
// Matches the uid/gid of the redis user in the official alpine images; any
// non-root id works since the engine command is run directly, not via gosu.
const CACHE_UID = 999;

/**
 * Hash of everything that shapes the pod, and nothing that does not
 * (timeouts, endpoint mode), so identical caches share a config-hash label.
 */
export function podConfigHash(
  input: Pick<CachePodInput, 'engine' | 'config' | 'extraEnv' | 'commandOverride'>,
): string {
  const { config } = input;
  return configHash({
    engine: input.engine.name,
    image: config.image,
    // Tags like 7-alpine already default to IfNotPresent, but ":latest" would
    // force a pull on every pod; a cache image never needs one when present.
    imagePullPolicy: 'IfNotPresent',
    command: containerCommand(input),
    resources: config.resources,
    nodeSelector: config.nodeSelector,
    tolerations: config.tolerations,
    annotations: config.annotations,
    labels: config.labels,
    imagePullSecrets: config.imagePullSecrets,
    env: input.extraEnv ?? [],
    // Only when set, so existing pods keep their hash (and stay reusable).
    ...(config.uid === undefined ? {} : { uid: config.uid }),
  });
}

/**
 * The Pod manifest for one cache. Pure: every varying value (time, host,
 * ids) comes from `input`, so equal inputs always give equal manifests.
 */
export function buildCachePod(input: CachePodInput): V1Pod {
  const { engine, config } = input;
  if (Number.isNaN(input.leaseExpiresAt.getTime())) {
    throw new KubecacheError(
      'INTERNAL',
      'buildCachePod() got an invalid leaseExpiresAt date; pass a real Date.',
      { leaseExpiresAt: String(input.leaseExpiresAt) },
    );
  }
  const hash = podConfigHash(input);
  const name = podName({
    runId: input.runId,
    engine: engine.name,
    worker: input.worker,
    configHash: hash,
    ...(input.instance === undefined ? {} : { instance: input.instance }),
  });

  // kubecache's own keys go last so user labels/annotations can never
  // hijack the selectors and lease that cleanup relies on.
  const labels: Record<string, string> = {
    ...config.labels,
    [LABEL_MANAGED_BY]: MANAGED_BY_VALUE,
    [LABEL_RUN]: sanitizeLabelValue(input.runId),
    [LABEL_WORKER]: sanitizeLabelValue(input.worker),
    [LABEL_ENGINE]: engine.name,
    [LABEL_CONFIG_HASH]: hash,
  };
  const annotations: Record<string, string> = {
    ...config.annotations,
    [ANNOTATION_LEASE]: input.leaseExpiresAt.toISOString(),
    [ANNOTATION_HOST]: input.host,
    [ANNOTATION_PID]: String(input.pid),
  };

  const container: NonNullable<V1Pod['spec']>['containers'][number] = {
    name: engine.containerName,
    image: config.image,
    // Tags like 7-alpine already default to IfNotPresent, but ":latest" would
    // force a pull on every pod; a cache image never needs one when present.
    imagePullPolicy: 'IfNotPresent',
    command: containerCommand(input),
    ports: [{ name: engine.name, containerPort: engine.port, protocol: 'TCP' }],
    resources: {
      requests: { ...config.resources.requests },
      limits: { ...config.resources.limits },
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: false,
      runAsNonRoot: true,
    },
    // No readinessProbe: the runner speaks the protocol itself, which
    // answers sooner than waiting for the kubelet to flip the Ready condition.
  };
  if (input.extraEnv && input.extraEnv.length > 0) {
    container.env = structuredClone(input.extraEnv);
  }
  if (engine.dataDir) {
    container.workingDir = engine.dataDir;
    container.volumeMounts = [{ name: DATA_VOLUME, mountPath: engine.dataDir }];
  }
  if (input.secret) {
    container.volumeMounts = [
      ...(container.volumeMounts ?? []),
      { name: SECRET_VOLUME, mountPath: input.secret.mountPath, readOnly: true },
    ];
  }

  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: input.namespace, labels, annotations },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: input.activeDeadlineSeconds,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // A cache resolves no names; "Default" also spares clusters without
      // cluster DNS a MissingClusterDNS warning event per pod.
      dnsPolicy: 'Default',
      // Caches are throwaway; waiting the default 30s on delete only slows teardown.
      terminationGracePeriodSeconds: 1,
      securityContext: {
        runAsNonRoot: true,
        ...podIdentity(config.uid),
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [container],
    },
  };
  const spec = pod.spec as NonNullable<V1Pod['spec']>;
  if (engine.dataDir) spec.volumes = [{ name: DATA_VOLUME, emptyDir: {} }];
  if (input.secret) {
    spec.volumes = [
      ...(spec.volumes ?? []),
      {
        name: SECRET_VOLUME,
        // Readable by the cache's group only (fsGroup); the pod runs as that group.
        secret: { secretName: input.secret.secretName, defaultMode: 0o440 },
      },
    ];
  }
  if (Object.keys(config.nodeSelector).length > 0) spec.nodeSelector = { ...config.nodeSelector };
  if (config.tolerations.length > 0) spec.tolerations = config.tolerations.map((t) => ({ ...t }));
  if (config.imagePullSecrets.length > 0) {
    spec.imagePullSecrets = config.imagePullSecrets.map((secret) => ({ name: secret }));
  }
  if (input.owner) {
    (pod.metadata as NonNullable<V1Pod['metadata']>).ownerReferences = [
      {
        apiVersion: input.owner.apiVersion,
        kind: input.owner.kind,
        name: input.owner.name,
        uid: input.owner.uid,
        // Not a controller: the owner pod does not manage caches, it only
        // scopes their lifetime, and blocking its deletion would stall CI teardown.
        controller: false,
        blockOwnerDeletion: false,
      },
    ];
  }
  return pod;
}

/**
 * The pod's user. By default the official images' 999; "platform" pins
 * nothing, so a platform that assigns each namespace a UID range (OpenShift's
 * restricted-v2, which rejects pods pinning a UID outside it) chooses; a
 * number runs as that UID in group 0, as such platforms do. The images keep
 * their data dir writable by group 0, and the seeded dump lives in an
 * emptyDir, so every engine works under any UID.
 */
function podIdentity(uid: ResolvedCacheConfig['uid']): {
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
} {
  if (uid === 'platform') return {};
  if (typeof uid === 'number') return { runAsUser: uid, runAsGroup: 0, fsGroup: 0 };
  return { runAsUser: CACHE_UID, runAsGroup: CACHE_UID, fsGroup: CACHE_UID };
}

function containerCommand(
  input: Pick<CachePodInput, 'engine' | 'config' | 'commandOverride'>,
): string[] {
  // The supervisor lets the outage helpers stop, start and pause the server.
  return input.commandOverride
    ? [...input.commandOverride]
    : supervise(input.engine.command({ args: [...input.config.args] }));
}
