import createDebug from 'debug';
import { backoffMs } from '../deadline.js';
import { statusOf } from './api-error.js';
import type { KubeHandle } from './client.js';
import { type V1Pod, Watch } from './client-node.js';
import { listPodsWithVersion } from './pods.js';

const debug = createDebug('kubecache:watch');

export type PodEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface PodWatchOptions {
  /** Start from this version (the create response's), so no update is missed. */
  resourceVersion?: string | undefined;
  onEvent: (type: PodEventType, pod: V1Pod) => void;
  /**
   * A failed attempt to watch (the watch itself goes on, with back-off): for
   * visibility only. `failures` counts attempts in a row without an event.
   */
  onError?: (err: unknown, failures: number) => void;
}

/**
 * Ask the server to end each watch before client-node's 30 s inactivity
 * timer does: a server-side end is a clean close, resumed from the last
 * resourceVersion at once, whereas the client's timer surfaces as an error.
 */
export const WATCH_SERVER_TIMEOUT_SECONDS = 25;

/**
 * Watches one pod by name and re-establishes the watch when the server ends it.
 * Watching instead of polling makes status changes (IP assigned, image pull
 * failed) arrive as soon as the kubelet reports them.
 */
export function watchPod(handle: KubeHandle, name: string, opts: PodWatchOptions): () => void {
  return watchPods(handle, { fieldSelector: `metadata.name=${name}` }, opts);
}

/** What the watch loop does after a watch request ended. */
export type WatchEnd = { kind: 'resume' } | { kind: 'relist' } | { kind: 'backoff'; err: unknown };

/**
 * Pure: how to go on after a watch ended with `err` (null: a clean close).
 * A clean close or client-node's inactivity timeout resumes from the last
 * resourceVersion at once; 410 Gone (the version was compacted away) needs a
 * fresh list; anything else (API server down, 5xx, 429) waits and retries.
 */
export function afterWatchEnd(err: unknown): WatchEnd {
  if (!err) return { kind: 'resume' };
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError') return { kind: 'resume' };
  if (statusOf(err) === 410) return { kind: 'relist' };
  return { kind: 'backoff', err };
}

/**
 * Watches pods matching `query` for as long as the returned stop function is
 * not called: it never gives up. It resumes from the last resourceVersion
 * seen, lists again after 410 Gone (reporting pods that vanished meanwhile as
 * DELETED and the others as MODIFIED), and backs off while the API server is
 * unreachable.
 */
export function watchPods(
  handle: KubeHandle,
  query: { fieldSelector?: string; labelSelector?: string },
  opts: PodWatchOptions,
): () => void {
  const watch = new Watch(handle.kc);
  let stopped = false;
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let resourceVersion = opts.resourceVersion;
  let failures = 0;
  /** The last object seen of every pod not deleted, to report pods lost during a gap. */
  const known = new Map<string, V1Pod>();
  const path = `/api/v1/namespaces/${handle.namespace}/pods`;

  const deliver = (type: PodEventType, pod: V1Pod): void => {
    const name = pod.metadata?.name ?? '';
    if (type === 'DELETED') known.delete(name);
    else known.set(name, pod);
    opts.onEvent(type, pod);
  };

  const later = (ms: number, fn: () => void): void => {
    if (stopped) return;
    timer = setTimeout(fn, ms);
    timer.unref();
  };

  const fail = (err: unknown, next: () => void): void => {
    failures += 1;
    debug('watch %s %o failed (%d in a row): %s', path, query, failures, (err as Error)?.message);
    opts.onError?.(err, failures);
    later(backoffMs(failures), next);
  };

  const relist = (): void => {
    if (stopped) return;
    listPodsWithVersion(handle, query)
      .then(({ items, resourceVersion: rv }) => {
        if (stopped) return;
        const present = new Set(items.map((p) => p.metadata?.name ?? ''));
        for (const [name, pod] of [...known]) if (!present.has(name)) deliver('DELETED', pod);
        for (const pod of items) deliver('MODIFIED', pod);
        resourceVersion = rv;
        start();
      })
      .catch((err: unknown) => fail(err, relist));
  };

  const end = (err: unknown): void => {
    if (stopped) return;
    const next = afterWatchEnd(err);
    if (next.kind === 'resume') start();
    else if (next.kind === 'relist') {
      resourceVersion = undefined;
      relist();
    } else fail(next.err, resourceVersion ? start : relist);
  };

  function start(): void {
    if (stopped) return;
    if (!resourceVersion) {
      relist();
      return;
    }
    let ended = false;
    const endOnce = (err: unknown): void => {
      if (ended) return;
      ended = true;
      controller?.abort();
      end(err);
    };
    watch
      .watch(
        path,
        {
          ...query,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: WATCH_SERVER_TIMEOUT_SECONDS,
        },
        (type: string, obj: V1Pod & { code?: number }) => {
          if (stopped || ended) return;
          if (type === 'ERROR') {
            // A Status object; 410 Gone: our resourceVersion is too old.
            debug('watch %s error event %o', path, obj);
            endOnce(obj.code === 410 ? { statusCode: 410 } : new Error(JSON.stringify(obj)));
            return;
          }
          failures = 0;
          if (obj?.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') deliver(type, obj);
        },
        (err: unknown) => {
          if (!stopped) endOnce(err);
        },
      )
      .then((c) => {
        controller = c;
        if (stopped || ended) c.abort();
      })
      .catch((err: unknown) => {
        if (!stopped) endOnce(err);
      });
  }

  start();
  return () => {
    stopped = true;
    clearTimeout(timer);
    controller?.abort();
  };
}
