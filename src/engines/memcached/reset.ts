import { flushMemcached, type MemcachedClient } from './client.js';
import { applyMemcachedJsonSeed, type MemcachedJsonSeed } from './seed.js';

/** memcached cannot snapshot, so a reset is flush_all followed by the seed again. */
export async function resetMemcached(
  client: MemcachedClient,
  seed: MemcachedJsonSeed,
): Promise<void> {
  await flushMemcached(client);
  await applyMemcachedJsonSeed(client, seed);
}
