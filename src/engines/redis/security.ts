import type { EngineSecurity } from '../types.js';
import { newRedisLogins, redisAclFile } from './acl.js';

/** File names inside the pod-owned Secret (and so inside its mount). */
export const SECRET_FILES = {
  acl: 'users.acl',
  cert: 'tls.crt',
  key: 'tls.key',
  ca: 'ca.crt',
} as const;

/**
 * Redis/Valkey locking: an ACL file (no default user without a password)
 * and TLS on the one port with plaintext off (`--port 0`).
 */
export const redisSecurity: EngineSecurity = {
  // A password costs nothing at start (redis and Valkey alike).
  authByDefault: true,
  newLogins: newRedisLogins,
  secretFiles({ logins, acl, tls }) {
    const files: Record<string, string> = {};
    if (logins) files[SECRET_FILES.acl] = redisAclFile(logins, acl);
    if (tls) {
      files[SECRET_FILES.cert] = tls.certPem;
      files[SECRET_FILES.key] = tls.keyPem;
      files[SECRET_FILES.ca] = tls.caPem;
    }
    return files;
  },
  serverArgs({ dir, port, auth, tls }) {
    const args: string[] = [];
    if (auth) args.push('--aclfile', `${dir}/${SECRET_FILES.acl}`);
    if (tls) {
      args.push(
        // The engine's own `--port` comes first; these replace it, so the
        // one port speaks only TLS and plaintext is refused.
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        `${dir}/${SECRET_FILES.cert}`,
        '--tls-key-file',
        `${dir}/${SECRET_FILES.key}`,
        '--tls-ca-cert-file',
        `${dir}/${SECRET_FILES.ca}`,
        // Clients prove who they are with their password, not a certificate.
        '--tls-auth-clients',
        'no',
      );
    }
    return args;
  },
};
