import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { closeRedisClient, createRedisClient } from '../../../src/engines/redis/client.js';
import { ioredisCommander, type RespCommander } from '../../../src/engines/redis/commander.js';
import {
  closeNodeRedisClient,
  createNodeRedisClient,
} from '../../../src/engines/redis/node-redis-client.js';
import { type LocalServer, startRedis } from '../helpers/local-servers.js';

export const HOST = '127.0.0.1';

/** Far enough ahead that the key outlives any test run, close enough to fit PEXPIRE. */
export const FAR_FUTURE_MS = 50 * 365 * 24 * 3600 * 1000;

export async function tempDir(prefix = 'kubecache-seed-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/**
 * Writes every redis data type, in both compact and large encodings, plus
 * binary names and values and a spread of TTLs, so RDB and DUMP round trips
 * are exercised on everything they serialise.
 */
export async function populateAllTypes(client: Redis): Promise<void> {
  const p = client.pipeline();
  p.set('str:short', 'hello');
  p.set('str:int', '12345');
  p.set('str:long', 'x'.repeat(5000));
  p.set(Buffer.from([0x00, 0xff, 0x10, 0x0d, 0x0a]), Buffer.from([0xde, 0xad, 0x00, 0xbe, 0xef]));
  p.set('str:ttl', 'short-lived', 'PX', 3_600_000);
  p.set('str:far', 'long-lived', 'PX', FAR_FUTURE_MS);
  p.hset('hash:small', { a: '1', b: 'two', c: '' });
  p.hset('hash:big', Object.fromEntries(range(300).map((i) => [`f${i}`, `value-${i}`])));
  p.rpush('list:small', 'a', 'b', 'a', '');
  p.rpush('list:big', ...range(2000).map((i) => `item-${i}`));
  p.sadd('set:ints', 1, 2, 3, 42);
  p.sadd('set:strs', 'x', 'y', 'z');
  p.sadd('set:big', ...range(600).map((i) => `member-${i}`));
  p.zadd('zset:small', 1, 'one', 2.5, 'two-and-half', '-inf', 'bottom', '+inf', 'top');
  p.zadd('zset:big', ...range(300).flatMap((i) => [i * 1.5, `m${i}`]));
  p.xadd('stream:events', '1-1', 'kind', 'created', 'id', '7');
  p.xadd('stream:events', '2-0', 'kind', 'deleted');
  p.xgroup('CREATE', 'stream:events', 'workers', '0');
  p.hset('hash:ttl', 'f', 'v');
  p.pexpire('hash:ttl', 7_200_000);
  p.rpush('list:ttl', 'q');
  p.pexpire('list:ttl', FAR_FUTURE_MS);
  const results = await p.exec();
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}

export interface KeySnapshot {
  type: string;
  value: unknown;
  /** -1 without expiry. */
  pttl: number;
}

/** Reads the whole dataset into plain data, keyed by the key's bytes in hex. */
export async function readDataset(client: Redis): Promise<Map<string, KeySnapshot>> {
  const keys: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scanBuffer(cursor, 'COUNT', 1000);
    cursor = next.toString();
    keys.push(...batch);
  } while (cursor !== '0');
  const out = new Map<string, KeySnapshot>();
  for (const key of keys) {
    const type = await client.type(key);
    const pttl = await client.pttl(key);
    let value: unknown;
    switch (type) {
      case 'string':
        value = (await client.getBuffer(key))?.toString('hex');
        break;
      case 'hash':
        value = Object.entries(await client.hgetall(key)).sort();
        break;
      case 'list':
        value = await client.lrange(key, 0, -1);
        break;
      case 'set':
        value = (await client.smembers(key)).sort();
        break;
      case 'zset':
        value = await client.zrange(key, 0, -1, 'WITHSCORES');
        break;
      case 'stream':
        value = {
          entries: await client.xrange(key, '-', '+'),
          groups: await client.call('XINFO', 'GROUPS', key),
        };
        break;
      default:
        value = `unsupported type ${type}`;
    }
    out.set(key.toString('hex'), { type, value, pttl });
  }
  return out;
}

/**
 * Asserts equal datasets; TTLs must agree within `ttlToleranceMs` because
 * time passes between the two reads.
 */
export function datasetDifferences(
  expected: Map<string, KeySnapshot>,
  actual: Map<string, KeySnapshot>,
  ttlToleranceMs: number,
): string[] {
  const problems: string[] = [];
  const name = (hex: string) => JSON.stringify(Buffer.from(hex, 'hex').toString('latin1'));
  for (const [key, want] of expected) {
    const got = actual.get(key);
    if (!got) {
      problems.push(`${name(key)} missing`);
      continue;
    }
    if (got.type !== want.type) problems.push(`${name(key)} type ${got.type} != ${want.type}`);
    if (JSON.stringify(got.value) !== JSON.stringify(want.value)) {
      problems.push(`${name(key)} value differs`);
    }
    const ttlOk =
      want.pttl < 0 ? got.pttl === want.pttl : Math.abs(got.pttl - want.pttl) <= ttlToleranceMs;
    if (!ttlOk) problems.push(`${name(key)} pttl ${got.pttl} != ${want.pttl}`);
  }
  for (const key of actual.keys()) {
    if (!expected.has(key)) problems.push(`${name(key)} unexpected`);
  }
  return problems;
}

export async function withClient<T>(
  server: { host: string; port: number },
  fn: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = await createRedisClient(server);
  try {
    return await fn(client);
  } finally {
    await closeRedisClient(client);
  }
}

/** The client libraries kubecache's own redis commands run over. */
export const CLIENT_KINDS = ['ioredis', 'node-redis'] as const;

/**
 * kubecache's command channel over the chosen client library, plus an
 * ioredis client for the test's own checks.
 */
export async function withResp<T>(
  server: { host: string; port: number },
  kind: (typeof CLIENT_KINDS)[number],
  fn: (resp: RespCommander, client: Redis) => Promise<T>,
): Promise<T> {
  return withClient(server, async (client) => {
    if (kind === 'ioredis') return fn(ioredisCommander(client), client);
    const opened = await createNodeRedisClient(server);
    try {
      return await fn(opened.resp, client);
    } finally {
      await closeNodeRedisClient(opened.client);
    }
  });
}

/**
 * Produces a real RDB file with the local redis: populate, SAVE, copy out.
 * `extraArgs` reach redis-server, e.g. `['--rdbchecksum', 'no']`.
 */
export async function makeRdb(
  outPath: string,
  populate: (client: Redis) => Promise<void> = populateAllTypes,
  extraArgs: string[] = [],
): Promise<void> {
  const dir = await tempDir('kubecache-rdb-');
  const server = await startRedis(['--dir', dir, ...extraArgs]);
  try {
    await withClient(server, async (client) => {
      await populate(client);
      await client.save();
    });
    await copyFile(join(dir, 'dump.rdb'), outPath);
  } finally {
    await server.stop();
    await removeDir(dir);
  }
}

/** Starts a local redis that loads `rdbPath` at boot (copied, so the original is untouched). */
export async function startRedisFromRdb(
  rdbPath: string,
  extraArgs: string[] = [],
): Promise<LocalServer> {
  const dir = await tempDir('kubecache-load-');
  await copyFile(rdbPath, join(dir, 'loaded.rdb'));
  const server = await startRedis(['--dir', dir, '--dbfilename', 'loaded.rdb', ...extraArgs]);
  return {
    ...server,
    stop: async () => {
      await server.stop();
      await removeDir(dir);
    },
  };
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, optionally feeding stdin. */
export async function run(
  argv: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: Buffer; cwd?: string } = {},
): Promise<ChildResult> {
  const [bin, ...args] = argv;
  const child = spawn(bin as string, args, {
    env: options.env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.end(options.stdin);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
