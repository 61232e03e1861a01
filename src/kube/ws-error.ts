import { KubecacheError } from '../errors.js';
import { type ApiCall, toKubecacheError } from './api-error.js';

/**
 * The `ws` library reports an HTTP refusal of the upgrade only as a message
 * ("Unexpected server response: 403"); recover the status so a missing
 * pods/exec or pods/portforward permission becomes FORBIDDEN like any other.
 */
export function wsError(err: unknown, call: ApiCall): KubecacheError {
  if (err instanceof KubecacheError) return err;
  const message = (err as { message?: string })?.message ?? String(err);
  const m = /Unexpected server response: (\d{3})/.exec(message);
  if (m) {
    return toKubecacheError(
      Object.assign(new Error(message), { code: Number(m[1]), body: message }),
      call,
    );
  }
  return toKubecacheError(err, call);
}
