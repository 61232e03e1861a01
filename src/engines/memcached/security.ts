import { newPassword } from '../../security/credentials.js';
import type { EngineSecurity } from '../types.js';

/** The one SASL user of a memcached cache (memcached has no permissions to split). */
export const MEMCACHED_USER = 'kubecache';

const FILES = {
  /** Cyrus SASL's config for the "memcached" service, read via SASL_CONF_PATH. */
  conf: 'memcached.conf',
  /** The plain password, fed to saslpasswd2 at start. */
  password: 'sasl-password',
  /** `user:password` for memcached builds with --enable-sasl-pwdb (the official image). */
  pwdb: 'sasl-pwdb',
} as const;

/** Written at start, in the container's own /tmp (the Secret mount is read-only). */
const SASL_DB = '/tmp/kubecache-sasldb2';

/**
 * memcached locking: SASL PLAIN over the binary protocol, which memjs speaks.
 * Debian's memcached reads users from a Cyrus sasldb, written at start with
 * saslpasswd2; the official image's build reads MEMCACHED_SASL_PWDB instead.
 * Both are prepared, so either build works.
 */
export const memcachedSecurity: EngineSecurity = {
  // SASL needs a password database written at start (docs/security.md has
  // the measured cost), so locking is opt-in.
  authByDefault: false,
  tlsUnsupported:
    'memjs, the memcached client kubecache hands to tests, has no TLS support (memjs 1.3.2 only opens plain TCP sockets), so kubecache cannot give a test a TLS memcached client',
  newLogins() {
    // memcached has no command permissions: admin and user are the same login.
    const login = { username: MEMCACHED_USER, password: newPassword() };
    return { user: login, admin: login };
  },
  secretFiles({ logins }): Record<string, string> {
    if (!logins) return {};
    return {
      [FILES.conf]: `mech_list: plain\nsasldb_path: ${SASL_DB}\n`,
      [FILES.password]: logins.user.password,
      [FILES.pwdb]: `${logins.user.username}:${logins.user.password}\n`,
    };
  },
  serverArgs({ auth }) {
    // -S turns on SASL and with it the binary protocol only.
    return auth ? ['-S'] : [];
  },
  wrapCommand(argv, { dir, auth }) {
    if (!auth) return argv;
    const script = [
      'umask 077',
      // saslpasswd2 lives in sbin, which image PATHs often leave out.
      'PATH="$PATH:/usr/sbin:/usr/local/sbin"',
      `if command -v saslpasswd2 >/dev/null 2>&1; then saslpasswd2 -p -c -a memcached -f ${SASL_DB} ${MEMCACHED_USER} < ${dir}/${FILES.password} || exit 1; fi`,
      `export SASL_CONF_PATH=${dir} MEMCACHED_SASL_PWDB=${dir}/${FILES.pwdb}`,
      'exec "$@"',
    ].join('\n');
    return ['sh', '-c', script, 'kubecache-sasl', ...argv];
  },
};
