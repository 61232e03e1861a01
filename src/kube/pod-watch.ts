import { type V1Pod, Watch } from '@kubernetes/client-node';
import createDebug from 'debug';
import type { KubeHandle } from './client.js';

const debug = createDebug('kubecache:watch');

export type PodEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PodWatchOptions {
  /** Start from this version (the create response's), so no update is missed. */
  resourceVersion?: string | undefined;
  onEvent: (type: PodEventType, pod: V1Pod) => void;
  /** The watch broke for good (not the server's normal timeout, which is re-established). */
  onError: (err: unknown) => void;
}

/**
 * Watches one pod by name and re-establishes the watch when the server ends it.
 * Watching instead of polling makes status changes (IP assigned, image pull
 * failed) arrive as soon as the kubelet reports them.
 */
export function watchPod(handle: KubeHandle, name: string, opts: PodWatchOptions): () => void {
  return watchPods(handle, { fieldSelector: `metadata.name=${name}` }, opts);
}

export function watchPods(
  handle: KubeHandle,
  query: { fieldSelector?: string; labelSelector?: string },
  opts: PodWatchOptions,
): () => void {
  const watch = new Watch(handle.kc);
  let stopped = false;
  let controller: AbortController | undefined;
  let resourceVersion = opts.resourceVersion;
  let failures = 0;
  const path = `/api/v1/namespaces/${handle.namespace}/pods`;

  const start = (): void => {
    if (stopped) return;
    watch
      .watch(
        path,
        { ...query, resourceVersion, allowWatchBookmarks: false },
        (type: string, obj: V1Pod) => {
          if (stopped) return;
          failures = 0;
          if (obj?.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')
            opts.onEvent(type, obj);
          else if (type === 'ERROR') {
            // 410 Gone: our resourceVersion is too old; restart from now.
            debug('watch %s error event %o', path, obj);
            resourceVersion = undefined;
          }
        },
        (err: unknown) => {
          if (stopped) return;
          if (err && (err as { name?: string }).name !== 'AbortError') {
            failures += 1;
            debug('watch %s ended with %s (failure %d)', path, (err as Error).message, failures);
            if (failures >= 3) {
              opts.onError(err);
              return;
            }
          }
          setTimeout(start, failures * 100).unref();
        },
      )
      .then((c) => {
        controller = c;
        if (stopped) c.abort();
      })
      .catch((err: unknown) => {
        if (stopped) return;
        failures += 1;
        if (failures >= 3) opts.onError(err);
        else setTimeout(start, failures * 100).unref();
      });
  };
  start();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
