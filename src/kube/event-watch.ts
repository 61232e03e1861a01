import createDebug from 'debug';
import type { KubeHandle } from './client.js';
import { type CoreV1Event, Watch } from './client-node.js';

const debug = createDebug('kubecache:watch');

/**
 * Calls `onEvent` for each event about one pod, starting with those already
 * recorded. The kubelet records "Started" the moment a container starts,
 * while status.podIP waits for its next status sync (up to a 1 s PLEG
 * relist); watching events lets the runner act on the former.
 * `onError` gets a failure to watch at all (e.g. no `watch` on events).
 */
export function watchPodEvents(
  handle: KubeHandle,
  pod: string,
  onEvent: (event: CoreV1Event) => void,
  onError: (err: unknown) => void,
): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  new Watch(handle.kc)
    .watch(
      `/api/v1/namespaces/${handle.namespace}/events`,
      { fieldSelector: `involvedObject.name=${pod}` },
      (type: string, obj: CoreV1Event) => {
        if (!stopped && (type === 'ADDED' || type === 'MODIFIED')) onEvent(obj);
      },
      (err: unknown) => {
        if (stopped) return;
        debug('event watch for %s ended: %s', pod, (err as Error | undefined)?.message ?? 'closed');
        if (err) onError(err);
      },
    )
    .then((c) => {
      controller = c;
      if (stopped) c.abort();
    })
    .catch((err: unknown) => {
      if (!stopped) onError(err);
    });
  return () => {
    stopped = true;
    controller?.abort();
  };
}
