import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotRedis } from '../../src/engines/redis/snapshot.js';
import { isKubecacheError } from '../../src/errors.js';
import { validateRdbFixture } from '../../src/seed/rdb-file.js';
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

  it('times out when the server only sends keep-alives', async () => {
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
      expect((err as Error).message).toMatch(/within 300 ms/);
      expect(Date.now() - began).toBeLessThan(2000);
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
