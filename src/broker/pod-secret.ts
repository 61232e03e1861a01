import type { V1Pod, V1Secret } from '../kube/client-node.js';
import { LABEL_MANAGED_BY, LABEL_RUN, LABEL_WORKER, MANAGED_BY_VALUE } from '../names.js';

// A cache pod's Secret (its logins and TLS files, or its seed endpoint's URL
// and token) is made in the pod's beforeCreate and handed to the pod once it
// exists. Both kinds must be found and collected the same way, so their
// labels, annotations and owner come from here.

/**
 * The Secret named `name` for `pod`: labelled with the run and worker of
 * `labels` (the pod's), so teardown finds it, and carrying the pod's
 * annotations, whose lease lets the reaper collect a Secret whose pod never
 * came.
 */
export function podSecret(
  name: string,
  labels: Record<string, string>,
  pod: V1Pod,
  stringData: Record<string, string>,
): V1Secret {
  return {
    metadata: {
      name,
      labels: {
        [LABEL_MANAGED_BY]: MANAGED_BY_VALUE,
        [LABEL_RUN]: labels[LABEL_RUN] ?? '',
        [LABEL_WORKER]: labels[LABEL_WORKER] ?? '',
      },
      annotations: pod.metadata?.annotations ?? {},
    },
    type: 'Opaque',
    stringData,
  };
}

/** The created pod as its Secret's owner: the Secret dies with it even if nobody tears down. */
export function podOwner(pod: V1Pod): {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
} {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
  };
}
