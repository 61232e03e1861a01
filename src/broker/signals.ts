import createDebug from 'debug';

const debug = createDebug('kubecache:signals');

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Runs `teardown` on SIGINT/SIGTERM, then lets the signal do what it would
 * have done: if nobody else listens, exit with 128+signal; if the test runner
 * listens too, leave the exit to it (it waits for its own teardown hooks).
 * Returns a function that removes the handlers.
 */
export function teardownOnSignals(teardown: () => Promise<unknown>): () => void {
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const signal of SIGNALS) {
    const handler = (): void => {
      debug('%s: tearing down', signal);
      remove();
      const others = process.listenerCount(signal);
      void teardown()
        .catch((err: unknown) =>
          process.stderr.write(
            `[kubecache] teardown after ${signal} failed: ${(err as Error).message}\n`,
          ),
        )
        .finally(() => {
          if (others === 0) process.exit(signal === 'SIGINT' ? 130 : 143);
        });
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  const remove = (): void => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
  return remove;
}
