const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type Handled = (typeof SIGNALS)[number];

/** Longest wait for the pods before exiting anyway; their lease expires and the next run reaps them. */
const MAX_WAIT_MS = 45_000;

/**
 * Runs `teardown` to completion on SIGINT/SIGTERM before the process exits.
 *
 * Test runners exit almost at once on SIGINT (Vitest calls process.exit 1 ms
 * after it), and their listeners run in the same emit as ours, so removing
 * them is too late. Instead, until teardown settles, process.exit only
 * records the request; the recorded exit happens afterwards. Without other
 * listeners the signal is re-raised, so the process ends the way it would
 * have without us. A second signal exits at once.
 */
export function teardownBeforeSignalExit(
  teardown: () => Promise<unknown>,
  progress: (line: string) => void,
): () => void {
  let installed = true;
  const handlers = new Map<Handled, () => void>();
  const remove = (): void => {
    if (!installed) return;
    installed = false;
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
  for (const signal of SIGNALS) {
    const handler = (): void => {
      remove();
      const others = process.listenerCount(signal);
      const realExit = process.exit;
      // The arguments as given: exit() and exit(undefined) differ, the latter resets exitCode.
      let requested: Parameters<typeof process.exit> | undefined;
      process.exit = ((...args: Parameters<typeof process.exit>) => {
        requested ??= args;
      }) as typeof process.exit;
      const impatient = (): void => {
        progress(`[kubecache] ${signal} again: exiting without waiting for the cache pods.`);
        realExit.call(process, signal === 'SIGINT' ? 130 : 143);
      };
      process.on(signal, impatient);
      progress(
        `[kubecache] ${signal}: deleting this run's cache pods before exiting (send ${signal} again to skip).`,
      );
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          progress(`[kubecache] gave up waiting for the cache pods after ${MAX_WAIT_MS} ms.`);
          resolve();
        }, MAX_WAIT_MS);
      });
      void Promise.race([teardown(), bounded])
        .catch((err: unknown) =>
          progress(`[kubecache] teardown after ${signal} failed: ${(err as Error).message}`),
        )
        .finally(() => {
          clearTimeout(timer);
          process.off(signal, impatient);
          process.exit = realExit;
          if (requested) realExit.apply(process, requested);
          // Nobody else reacted to the signal: end the way it would have ended without us.
          else if (others === 0) process.kill(process.pid, signal);
        });
    };
    handlers.set(signal, handler);
    process.prependListener(signal, handler);
  }
  return remove;
}
