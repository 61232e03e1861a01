import type { AclProfile } from '../../config/options.js';
import { type CacheLogins, newPassword, sha256Hex } from '../../security/credentials.js';

/**
 * Tests log in as redis's `default` user, so any client works with just the
 * password (`redis://:password@host:port`, `AUTH password`).
 */
export const REDIS_TEST_USER = 'default';
/** kubecache's own user: FLUSHALL and DEBUG RELOAD (RDB seeds) for reset, SYNC for snapshot(). */
export const REDIS_ADMIN_USER = 'kubecache-admin';

/**
 * What the test user may run, per profile. `-@admin` removes DEBUG, CONFIG,
 * SHUTDOWN, MODULE, SAVE/BGSAVE, MONITOR, REPLICAOF/SYNC, ACL SETUSER,
 * CLIENT KILL, FAILOVER and the like, while keeping every data command an
 * application uses (KEYS, SCAN, INFO, SORT, EVAL, FUNCTION, FLUSHALL, ...).
 * MIGRATE is removed too: it makes the pod open connections elsewhere.
 * `restricted` also removes the commands that wipe whole databases.
 */
export const REDIS_ACL_RULES: Readonly<Record<AclProfile, readonly string[]>> = Object.freeze({
  app: ['~*', '&*', '+@all', '-@admin', '-migrate'],
  restricted: ['~*', '&*', '+@all', '-@admin', '-migrate', '-flushall', '-flushdb', '-swapdb'],
});

export function newRedisLogins(): CacheLogins {
  return {
    user: { username: REDIS_TEST_USER, password: newPassword() },
    admin: { username: REDIS_ADMIN_USER, password: newPassword() },
  };
}

/**
 * The ACL file the server loads (`--aclfile`). Passwords appear only as
 * SHA-256 hashes, so whoever can read the pod's Secret still cannot log in.
 */
export function redisAclFile(logins: CacheLogins, profile: AclProfile): string {
  const line = (name: string, password: string, rules: readonly string[]) =>
    `user ${name} on #${sha256Hex(password)} ${rules.join(' ')}`;
  return [
    line(logins.user.username, logins.user.password, REDIS_ACL_RULES[profile]),
    line(logins.admin.username, logins.admin.password, ['~*', '&*', '+@all']),
    '',
  ].join('\n');
}
