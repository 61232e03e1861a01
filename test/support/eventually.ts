/**
 * Reads `read` until `done` holds for its value or `ms` pass, and returns
 * the last value read, for the test to assert on (so a timeout fails with
 * what was last seen). For what the cluster finishes after kubecache's call
 * returns: a deleted pod's removal, the garbage collector.
 */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  ms = 30_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, everyMs));
    value = await read();
  }
  return value;
}

/** `eventually` for a list that should empty. */
export function eventuallyEmpty<T>(read: () => Promise<T[]>, ms = 30_000): Promise<T[]> {
  return eventually(read, (list) => list.length === 0, ms);
}
