import { orFallbackAfter } from '../deadline.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
type Handled = (typeof SIGNALS)[number];

/** Longest wait for the pods before exiting anyway; their lease expires and the next run reaps them. */
const MAX_WAIT_MS = 45_000;

/** What becomes of pods a cut-short teardown left, and how to delete them at once. */
const LEFT_BEHIND =
  'Pods it left are deleted by the next run in this namespace once their lease ends; to delete them now, ' +
  'find the run with "npx kubecache ls" and run "npx kubecache reap --run <RUN>".';

interface Registration {
  teardown: () => Promise<unknown>;
  progress: (line: string) => void;
}

/**
 * One per process, kept on globalThis so that every session (two runner
 * projects, or the ESM and CommonJS copies of kubecache) shares it. With a
 * handler per session, each one patched process.exit over the other's patch
 * and counted the other as "someone else handles the signal", so neither
 * re-raised it and process.exit could stay patched for good.
 */
interface Coordinator {
  registrations: Set<Registration>;
  handlers: Map<Handled, () => void>;
  /** A signal is being handled: teardowns run, process.exit is held. */
  active: boolean;
}

const KEY = Symbol.for('kubecache.signal-coordinator');

function coordinator(): Coordinator {
  const g = globalThis as { [KEY]?: Coordinator };
  g[KEY] ??= { registrations: new Set(), handlers: new Map(), active: false };
  return g[KEY];
}

function uninstall(c: Coordinator): void {
  for (const [signal, handler] of c.handlers) process.off(signal, handler);
  c.handlers.clear();
}

function install(c: Coordinator): void {
  if (c.handlers.size > 0) return;
  for (const signal of SIGNALS) {
    const handler = (): void => onSignal(c, signal);
    c.handlers.set(signal, handler);
    process.prependListener(signal, handler);
  }
}

function onSignal(c: Coordinator, signal: Handled): void {
  uninstall(c);
  c.active = true;
  const registrations = [...c.registrations];
  const progress = (line: string): void => {
    // Several sessions usually share one output; say each line once.
    const sinks = new Set(registrations.map((r) => r.progress));
    for (const sink of sinks) sink(line);
  };
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
  const all = Promise.all(
    registrations.map((r) =>
      r
        .teardown()
        .catch((err: unknown) =>
          r.progress(
            `[kubecache] teardown after ${signal} failed: ${(err as Error).message}. ${LEFT_BEHIND}`,
          ),
        ),
    ),
  );
  void orFallbackAfter(all, MAX_WAIT_MS, () =>
    progress(
      `[kubecache] gave up waiting for the cache pods after ${MAX_WAIT_MS} ms. ${LEFT_BEHIND}`,
    ),
  ).finally(() => {
    process.off(signal, impatient);
    process.exit = realExit;
    c.active = false;
    if (requested) realExit.apply(process, requested);
    // Nobody else reacted to the signal: end the way it would have ended without us.
    else if (others === 0) process.kill(process.pid, signal);
  });
}

/**
 * Runs `teardown` to completion on SIGINT/SIGTERM before the process exits.
 *
 * Test runners exit almost at once on SIGINT (Vitest calls process.exit 1 ms
 * after it), and their listeners run in the same emit as ours, so removing
 * them is too late. Instead, until every registered teardown settles,
 * process.exit only records the request; the recorded exit happens
 * afterwards. Without other listeners the signal is re-raised, so the
 * process ends the way it would have without us. A second signal exits at
 * once. Any number of sessions may register; one handler serves them all.
 */
export function teardownBeforeSignalExit(
  teardown: () => Promise<unknown>,
  progress: (line: string) => void,
): () => void {
  const c = coordinator();
  const registration: Registration = { teardown, progress };
  c.registrations.add(registration);
  if (!c.active) install(c);
  return () => {
    c.registrations.delete(registration);
    if (c.registrations.size === 0) uninstall(c);
  };
}
