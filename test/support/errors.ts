import { isKubecacheError, type KubecacheError } from '../../src/errors.js';

/** The KubecacheError a promise rejects with; fails the test on success or any other error. */
export async function rejection(p: Promise<unknown>): Promise<KubecacheError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isKubecacheError(err)) throw new Error(`expected a KubecacheError, got ${String(err)}`);
  return err;
}
