import { createHash, randomBytes } from 'node:crypto';

/**
 * A random password: 32 bytes as base64url, so it needs no quoting in a
 * redis URL, an ACL file, a SASL command line or a shell.
 */
export function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 in hex: how redis ACL files hold a password (`#<hash>`) without the password itself. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** One login: what a client sends with AUTH (redis) or SASL PLAIN (memcached). */
export interface Login {
  username: string;
  password: string;
}

/**
 * The logins of one cache pod. `user` is handed to tests; `admin` only to
 * kubecache's own code in the worker (reset, seed save, snapshot).
 */
export interface CacheLogins {
  user: Login;
  admin: Login;
}
