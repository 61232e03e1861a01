import type { Redis } from 'ioredis';

export interface KeyState {
  type: string;
  value: unknown;
  /** Remaining TTL in seconds, rounded; -1 for none. */
  ttl: number;
}

/** Every key's type, value and TTL, for key-by-key equality checks. */
export async function readDataset(client: Redis): Promise<Record<string, KeyState>> {
  const keys = (await client.keys('*')).sort();
  const out: Record<string, KeyState> = {};
  for (const key of keys) {
    const type = await client.type(key);
    let value: unknown;
    if (type === 'string') value = await client.get(key);
    else if (type === 'hash') value = await client.hgetall(key);
    else if (type === 'list') value = await client.lrange(key, 0, -1);
    else if (type === 'set') value = (await client.smembers(key)).sort();
    else if (type === 'zset') value = await client.zrange(key, 0, -1, 'WITHSCORES');
    else value = `(${type})`;
    const pttl = await client.pttl(key);
    out[key] = { type, value, ttl: pttl < 0 ? -1 : Math.round(pttl / 1000) };
  }
  return out;
}

/**
 * TTLs count down between two reads. Replaces each TTL of `actual` that is
 * within `toleranceS` of the expected one by the expected value, so a plain
 * deep equality then checks everything else exactly and still shows any TTL
 * that is really off.
 */
export function alignTtls(
  actual: Record<string, KeyState>,
  expected: Record<string, KeyState>,
  toleranceS = 60,
): Record<string, KeyState> {
  const out: Record<string, KeyState> = {};
  for (const [k, v] of Object.entries(actual)) {
    const want = expected[k]?.ttl;
    const close =
      want !== undefined && v.ttl >= 0 && want >= 0 && Math.abs(v.ttl - want) <= toleranceS;
    out[k] = close ? { ...v, ttl: want } : v;
  }
  return out;
}
