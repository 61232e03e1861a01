import { KubecacheError } from '../errors.js';
import { type ApiCall, toKubecacheError } from './api-error.js';

/**
 * The `ws` library reports an HTTP refusal of the upgrade only as a message
 * ("Unexpected server response: 403"); recover the status so a missing
 * pods/exec or pods/portforward permission becomes FORBIDDEN like any other.
 */
export function wsError(raw: unknown, call: ApiCall): KubecacheError {
  if (raw instanceof KubecacheError) return raw;
  const err = unwrapEvent(raw);
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

/**
 * client-node rejects a failed WebSocket with the `ws` library's ErrorEvent,
 * which is no Error: its text read "[object Object]" ("create pods/exec ...
 * failed before the API server answered: [object Object]" while the API
 * server was down). The Error it carries (ECONNREFUSED, a TLS failure) says
 * what happened.
 */
export function unwrapEvent(err: unknown): unknown {
  if (err instanceof Error || typeof err !== 'object' || err === null) return err;
  const inner = (err as { error?: unknown }).error;
  if (inner instanceof Error) return inner;
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && message !== '' ? new Error(message) : err;
}
