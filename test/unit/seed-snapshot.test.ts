import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotRedis, suggestedSnapshotTimeout } from '../../src/engines/redis/snapshot.js';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import { validateRdbFixture } from '../../src/seed/rdb-file.js';
import type { BrokerClient } from '../../src/worker/broker-client.js';
import { type CacheHandle, openCache } from '../../src/worker/open-cache.js';
import type { CacheLease } from '../../src/worker/protocol.js';
import {
  closedPort,
  type LocalServer,
  startRedis,
  startTcpServer,
} from './helpers/local-servers.js';
import {
  datasetDifferences,
  HOST,
  makeRdb,
  populateAllTypes,
  readDataset,
  removeDir,
  startRedisFromRdb,
  tempDir,
  withClient,
} from './seed-fixtures/dataset.js';

let dir: string;
let source: LocalServer;
let sample: Buffer;

beforeAll(async () => {
  dir = await tempDir();
  // The server's own dir receives the temporary RDB of a disk-based SYNC.
  source = await startRedis(['--dir', dir]);
  await withClient(source, async (client) => {
    await populateAllTypes(client);
    await client.config('SET', 'repl-diskless-sync-delay', '0');
  });
  const samplePath = join(dir, 'sample.rdb');
  await makeRdb(samplePath, async (client) => {
    await client.set('from', 'fake-server');
  });
  sample = await readFile(samplePath);
});

afterAll(async () => {
  await source?.stop();
  await removeDir(dir);
});

async function expectSameAsSource(rdbPath: string): Promise<void> {
  const expected = await withClient(source, readDataset);
  const copy = await startRedisFromRdb(rdbPath);
  try {
    const actual = await withClient(copy, readDataset);
    expect(actual.size).toBe(expected.size);
    expect(datasetDifferences(expected, actual, 5000)).toEqual([]);
  } finally {
    await copy.stop();
  }
}

async function noPartFiles(): Promise<void> {
  expect((await readdir(dir)).filter((f) => f.endsWith('.part'))).toEqual([]);
}

describe('snapshotRedis against a real redis', () => {
  it('copies every type and TTL with a disk-based SYNC', async () => {
    const out = join(dir, 'snap-disk.rdb');
    const result = await snapshotRedis(source, out, { timeoutMs: 10_000 });
    expect(result.rdbVersion).toBe(10);
    expect(result.bytes).toBe((await validateRdbFixture(out)).size);
    await noPartFiles();
    await expectSameAsSource(out);
  });

  it('copies every type and TTL with a diskless SYNC', async () => {
    const out = join(dir, 'snap-diskless.rdb');
    const serverDump = join(dir, 'dump.rdb');
    const before = await stat(serverDump).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
    const result = await snapshotRedis(source, out, { timeoutMs: 10_000, diskless: true });
    expect(result.rdbVersion).toBe(10);
    // Diskless means the server never wrote its own dump file for this transfer.
    expect(
      await stat(serverDump).then(
        (s) => s.mtimeMs,
        () => undefined,
      ),
    ).toBe(before);
    await expectSameAsSource(out);
  });

  it('leaves no replica behind', async () => {
    await snapshotRedis(source, join(dir, 'snap-again.rdb'), { timeoutMs: 10_000 });
    await withClient(source, async (client) => {
      for (let i = 0; i < 50; i++) {
        if ((await client.info('replication')).includes('connected_slaves:0')) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await client.info('replication')).toContain('connected_slaves:0');
    });
  });

  it('authenticates when the server has a password', async () => {
    const guarded = await startRedis(['--requirepass', 's3cret', '--dir', dir]);
    try {
      const out = join(dir, 'snap-auth.rdb');
      const refused = await snapshotRedis(guarded, out, { timeoutMs: 5000 }).catch(
        (e: unknown) => e,
      );
      expect(isKubecacheError(refused, 'BAD_OPTION'), String(refused)).toBe(true);
      expect((refused as Error).message).toMatch(/NOAUTH.*password/);
      await noPartFiles();
      const ok = await snapshotRedis(guarded, out, { timeoutMs: 5000, password: 's3cret' });
      expect(ok.rdbVersion).toBe(10);
    } finally {
      await guarded.stop();
    }
  });
});

describe('cache.snapshot(path, options) of a handle', () => {
  let cache: CacheHandle<'redis'>;

  beforeAll(async () => {
    // A lease for the local redis, as the broker would hand it out; no pod,
    // so the broker is never asked anything.
    const lease: CacheLease = {
      id: 'unit',
      engine: 'redis',
      worker: 'unit',
      namespace: 'unit',
      podName: 'kc-redis-unit',
      podIP: source.host,
      host: source.host,
      port: source.port,
      endpoint: 'pod-ip',
      url: `redis://${source.host}:${source.port}`,
      reused: false,
      timings: { created: 0, ready: 0 },
    };
    cache = await openCache('redis', {
      acquired: Promise.resolve(lease),
      broker: {} as BrokerClient,
    });
  });

  afterAll(() => cache?.close());

  /** Connections the server has accepted so far; read over the handle's open one. */
  async function accepted(): Promise<number> {
    const stats = await cache.client.info('stats');
    return Number(/total_connections_received:(\d+)/.exec(stats)?.[1]);
  }

  it('refuses a bad timeoutMs with BAD_OPTION naming it and the value, before connecting', async () => {
    const before = await accepted();
    const bad: [unknown, string][] = [
      [{ timeoutMs: 0 }, 'got 0'],
      [{ timeoutMs: -1 }, 'got -1'],
      [{ timeoutMs: 1.5 }, 'got 1.5'],
      [{ timeoutMs: Number.NaN }, 'got NaN'],
      [{ timeoutMs: Number.POSITIVE_INFINITY }, 'got Infinity'],
      // Past what setTimeout can wait: it would fire at once.
      [{ timeoutMs: 2 ** 31 }, `got ${2 ** 31}`],
      [{ timeoutMs: Number.MAX_SAFE_INTEGER + 2 }, 'got 9007199254740992'],
      [{ timeoutMs: '5000' }, 'got "5000"'],
      [{ timeoutMs: null }, 'got null'],
      [5000, 'Pass { timeoutMs: 5000 }'],
      [null, 'got null'],
      [{ timeout: 5000 }, 'Did you mean "timeoutMs"?'],
    ];
    for (const [options, shown] of bad) {
      const err = await cache
        .snapshot(join(dir, 'never.rdb'), options as never)
        .catch((e: unknown) => e);
      expect(isKubecacheError(err, 'BAD_OPTION'), `${String(options)}: ${String(err)}`).toBe(true);
      const message = (err as Error).message;
      expect(message, message).toContain('timeoutMs');
      expect(message, message).toContain(shown);
    }
    expect(await accepted()).toBe(before);
    expect((await readdir(dir)).filter((f) => f.startsWith('never.rdb'))).toEqual([]);
  });

  it('takes a snapshot with the default limit and with an explicit one', async () => {
    const before = await accepted();
    for (const options of [undefined, {}, { timeoutMs: undefined }, { timeoutMs: 10_000 }]) {
      const out = join(dir, 'handle.rdb');
      const result = await cache.snapshot(out, options);
      expect(result.bytes).toBe((await validateRdbFixture(out)).size);
    }
    // The counter sees the snapshot's connections: the test above would catch one.
    expect(await accepted()).toBeGreaterThan(before);
  });

  it('passes timeoutMs to the engine, and its TIMEOUT says how to raise it in a test', async () => {
    // The server answers no client, the snapshot's SYNC included, until the pause ends.
    await cache.client.call('CLIENT', 'PAUSE', '1500', 'ALL');
    const err = await cache
      .snapshot(join(dir, 'paused.rdb'), { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(isKubecacheError(err, 'TIMEOUT'), String(err)).toBe(true);
    const message = (err as Error).message;
    expect(message).toContain('within its limit of 200 ms');
    expect(message).toContain(
      'pass a larger timeoutMs, as in cache.snapshot(path, { timeoutMs: 60000 })',
    );
    expect(message).not.toContain('--timeout-ms');
    // Answered once the pause is over.
    expect(await cache.client.ping()).toBe('PONG');
    await noPartFiles();
  });
});

describe('snapshotRedis refusals the user can fix are BAD_OPTION, with the fix', () => {
  it('a server whose SYNC is renamed away', async () => {
    const renamed = await startRedis(['--rename-command', 'SYNC', '', '--dir', dir]);
    try {
      const err = await snapshotRedis(renamed, join(dir, 'snap-renamed.rdb'), {
        timeoutMs: 5000,
      }).catch((e: unknown) => e);
      expect(isKubecacheError(err, 'BAD_OPTION'), String(err)).toBe(true);
      expect((err as Error).message).toContain('This server has no SYNC command');
      await noPartFiles();
    } finally {
      await renamed.stop();
    }
  });

  it('a login whose ACL does not allow SYNC', async () => {
    const acl = await startRedis(['--user', 'reader', 'on', '>pw', '~*', '+@read', '--dir', dir]);
    try {
      const err = await snapshotRedis(acl, join(dir, 'snap-noperm.rdb'), {
        timeoutMs: 5000,
        username: 'reader',
        password: 'pw',
      }).catch((e: unknown) => e);
      expect(isKubecacheError(err, 'BAD_OPTION'), String(err)).toBe(true);
      expect((err as Error).message).toContain('NOPERM');
      expect((err as Error).message).toContain('This login may not run SYNC');
      await noPartFiles();
    } finally {
      await acl.stop();
    }
  });
});

describe('snapshotRedis protocol handling', () => {
  /** A fake master that answers SYNC with whatever `reply` writes. */
  async function fake(reply: (socket: Socket) => void): Promise<LocalServer> {
    return startTcpServer((socket) => {
      let seen = '';
      socket.on('data', (d: Buffer) => {
        seen += d.toString('latin1');
        if (seen.includes('SYNC\r\n')) {
          seen = '';
          reply(socket);
        }
      });
    });
  }

  it('skips keep-alive newlines and takes exactly $<len> bytes, byte by byte', async () => {
    const server = await fake((socket) => {
      const wire = Buffer.concat([
        Buffer.from('\n\n\n'),
        Buffer.from(`$${sample.length}\r\n`),
        sample,
        Buffer.from('*1\r\n$4\r\nPING\r\n'),
      ]);
      // One byte per write, so every boundary case of the parser is hit.
      let i = 0;
      const drip = (): void => {
        if (i >= wire.length || socket.destroyed) return;
        socket.write(wire.subarray(i, i + 1));
        i++;
        setImmediate(drip);
      };
      drip();
    });
    try {
      const out = join(dir, 'fake-sized.rdb');
      const result = await snapshotRedis(server, out, { timeoutMs: 10_000 });
      expect(result.bytes).toBe(sample.length);
      expect(Buffer.compare(await readFile(out), sample)).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('finds the EOF mark of a diskless payload across chunk boundaries', async () => {
    const mark = randomBytes(20).toString('hex');
    const server = await fake((socket) => {
      const wire = Buffer.concat([
        Buffer.from(`\n$EOF:${mark}\r\n`),
        sample,
        Buffer.from(mark),
        Buffer.from('\n*1\r\n$4\r\nPING\r\n'),
      ]);
      // Split so the mark straddles two writes.
      const cut = wire.length - 30;
      socket.write(wire.subarray(0, cut));
      setTimeout(() => socket.write(wire.subarray(cut)), 20);
    });
    try {
      const out = join(dir, 'fake-marked.rdb');
      const result = await snapshotRedis(server, out, { timeoutMs: 5000 });
      expect(result.bytes).toBe(sample.length);
      expect(Buffer.compare(await readFile(out), sample)).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('sends AUTH and REPLCONF one at a time before SYNC', async () => {
    const received: string[] = [];
    const server = await startTcpServer((socket) => {
      socket.on('data', (d: Buffer) => {
        const text = d.toString('latin1');
        received.push(text);
        if (text.includes('SYNC')) {
          socket.write(Buffer.concat([Buffer.from(`$${sample.length}\r\n`), sample]));
        } else socket.write('+OK\r\n');
      });
    });
    try {
      await snapshotRedis(server, join(dir, 'handshake.rdb'), {
        timeoutMs: 5000,
        diskless: true,
        username: 'snap',
        password: 'pw with spaces',
      });
      expect(received).toEqual([
        '*3\r\n$4\r\nAUTH\r\n$4\r\nsnap\r\n$14\r\npw with spaces\r\n',
        '*3\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n',
        '*1\r\n$4\r\nSYNC\r\n',
      ]);
    } finally {
      await server.stop();
    }
  });

  it('reports a cut-off transfer and removes the partial file', async () => {
    const server = await fake((socket) => {
      socket.write(`$${sample.length}\r\n`);
      socket.end(sample.subarray(0, 10));
    });
    try {
      const err = await snapshotRedis(server, join(dir, 'cut.rdb'), { timeoutMs: 5000 }).catch(
        (e: unknown) => e,
      );
      expect(isKubecacheError(err, 'UNREACHABLE'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`after 10 of ${sample.length} bytes`));
      await noPartFiles();
    } finally {
      await server.stop();
    }
  });

  it('refuses a payload that is not a valid RDB', async () => {
    const server = await fake((socket) => {
      socket.write('$20\r\nREDIS0010xxxxxxxxxxx');
    });
    try {
      const out = join(dir, 'invalid.rdb');
      const err = await snapshotRedis(server, out, { timeoutMs: 5000 }).catch((e: unknown) => e);
      expect(isKubecacheError(err), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/not a valid RDB file.*no EOF marker/);
      await noPartFiles();
      await expect(readFile(out)).rejects.toThrow(/ENOENT/);
    } finally {
      await server.stop();
    }
  });

  it('passes on error replies and unexpected answers', async () => {
    const errors = await fake((socket) => socket.write('-ERR unknown command `SYNC`\r\n'));
    const nonsense = await fake((socket) => socket.write('+FULLRESYNC abc 0\r\n'));
    try {
      const err = await snapshotRedis(errors, join(dir, 'e.rdb'), { timeoutMs: 5000 }).catch(
        (e: unknown) => e,
      );
      expect((err as Error).message).toMatch(/redis answered "ERR unknown command `SYNC`"/);
      const odd = await snapshotRedis(nonsense, join(dir, 'o.rdb'), { timeoutMs: 5000 }).catch(
        (e: unknown) => e,
      );
      expect((odd as Error).message).toMatch(/unexpected reply "\+FULLRESYNC abc 0"/);
      await noPartFiles();
    } finally {
      await errors.stop();
      await nonsense.stop();
    }
  });

  it('times out when the server only sends keep-alives, naming both ways to raise the limit', async () => {
    const server = await fake((socket) => {
      const timer = setInterval(() => socket.write('\n'), 20);
      socket.on('close', () => clearInterval(timer));
    });
    try {
      const began = Date.now();
      const err = await snapshotRedis(server, join(dir, 'slow.rdb'), { timeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(isKubecacheError(err, 'TIMEOUT'), String(err)).toBe(true);
      const message = (err as Error).message;
      expect(message).toMatch(/within its limit of 300 ms/);
      // No caller said which it is: the test API and the CLI flag, with the suggested value.
      expect(message).toContain('cache.snapshot(path, { timeoutMs: 60000 })');
      expect(message).toContain('--timeout-ms 60000');
      expect((err as KubecacheError).details).toMatchObject({
        timeoutMs: 300,
        suggestedTimeoutMs: 60_000,
      });
      expect(Date.now() - began).toBeLessThan(2000);
      await noPartFiles();
    } finally {
      await server.stop();
    }
  });

  it("words a timeout's next step the caller's way, with a limit fit for the announced size", async () => {
    // 100 of 1,000,000 announced bytes, then nothing.
    const server = await fake((socket) => {
      socket.write(Buffer.concat([Buffer.from('$1000000\r\n'), Buffer.alloc(100, 0x41)]));
    });
    try {
      const err = await snapshotRedis(server, join(dir, 'stalled.rdb'), {
        timeoutMs: 200,
        raiseTimeout: (ms) => `use --timeout-ms ${ms}`,
      }).catch((e: unknown) => e);
      expect(isKubecacheError(err, 'TIMEOUT'), String(err)).toBe(true);
      const message = (err as Error).message;
      expect(message).toContain('(100 of 1000000 bytes received)');
      // 200 ms for 100 bytes: 3,000,000 ms for all of them with half again to spare.
      expect(message).toContain('use --timeout-ms 3000000.');
      expect(message).not.toContain('cache.snapshot(path');
      await noPartFiles();
    } finally {
      await server.stop();
    }
  });

  it('reports a closed port as UNREACHABLE', async () => {
    const port = await closedPort();
    const err = await snapshotRedis({ host: HOST, port }, join(dir, 'none.rdb'), {
      timeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(isKubecacheError(err, 'UNREACHABLE'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    await noPartFiles();
  });

  it('reports an unwritable output path before connecting', async () => {
    const err = await snapshotRedis(source, join(dir, 'no-such-dir', 'x.rdb'), {
      timeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(isKubecacheError(err, 'BAD_OPTION'), String(err)).toBe(true);
  });
});

describe('the limit a snapshot TIMEOUT suggests', () => {
  it('doubles the old one, never below the default, in whole seconds', () => {
    expect(suggestedSnapshotTimeout(1, 0)).toBe(60_000);
    expect(suggestedSnapshotTimeout(60_000, 0)).toBe(120_000);
    expect(suggestedSnapshotTimeout(45_500, 10, undefined)).toBe(91_000);
  });

  it('covers the announced size at the rate seen, with half again to spare', () => {
    // 10 of 100 MB in a minute: 15 minutes.
    expect(suggestedSnapshotTimeout(60_000, 10_000_000, 100_000_000)).toBe(900_000);
    // Nearly done: twice the limit is still the floor.
    expect(suggestedSnapshotTimeout(60_000, 99, 100)).toBe(120_000);
  });

  it('stays within what setTimeout can wait', () => {
    expect(suggestedSnapshotTimeout(60_000, 1, 1e12)).toBe(2 ** 31 - 1);
    expect(suggestedSnapshotTimeout(2 ** 31 - 1, 0)).toBe(2 ** 31 - 1);
  });
});
