import { constants } from 'node:os';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type Handled = (typeof SIGNALS)[number];
type Listener = (...args: unknown[]) => void;

/**
 * Runs `teardown` to completion on SIGINT/SIGTERM before anyone else reacts
 * to the signal. Test runners exit almost at once on SIGINT (Vitest calls
 * process.exit 1 ms after it), which would cut the pod deletion short, so
 * the other listeners are held back until teardown settles and then given
 * the signal as if it had just arrived. Without other listeners the signal
 * is re-raised, so the process ends the way it would have without us.
 * A second signal while waiting skips the wait: the pods' lease then
 * expires and the next run reaps them.
 */
export function teardownBeforeSignalExit(
  teardown: () => Promise<unknown>,
  progress: (line: string) => void,
): () => void {
  let installed = true;
  const handlers = new Map<Handled, Listener>();
  const remove = (): void => {
    if (!installed) return;
    installed = false;
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
  for (const signal of SIGNALS) {
    const handler = (): void => {
      remove();
      const held = process.listeners(signal) as Listener[];
      for (const l of held) process.off(signal, l);
      const impatient = (): void => {
        progress(`[kubecache] ${signal} again: exiting without waiting for the cache pods.`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.on(signal, impatient);
      progress(
        `[kubecache] ${signal}: deleting this run's cache pods before exiting (send ${signal} again to skip).`,
      );
      void teardown()
        .catch((err: unknown) =>
          progress(`[kubecache] teardown after ${signal} failed: ${(err as Error).message}`),
        )
        .finally(() => {
          process.off(signal, impatient);
          for (const l of held) process.on(signal, l);
          // Same arguments as a real signal: runners derive the exit code from the number.
          if (held.length > 0) {
            (process.emit as (event: string, ...args: unknown[]) => boolean)(
              signal,
              signal,
              constants.signals[signal],
            );
          } else process.kill(process.pid, signal);
        });
    };
    handlers.set(signal, handler);
    process.prependListener(signal, handler);
  }
  return remove;
}
