import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { dirname, resolve } from 'node:path';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import debug from 'debug';
import { MAX_TIMEOUT_MS } from '../../config/validate.js';
import { isKubecacheError, KubecacheError } from '../../errors.js';
import { validateRdbFixture } from '../../seed/rdb-file.js';
import { DEFAULT_SNAPSHOT_TIMEOUT_MS, type Endpoint, type SnapshotResult } from '../types.js';

const log = debug('kubecache:seed');

export interface SnapshotOptions {
  /** Deadline for the whole transfer, connection included. */
  timeoutMs: number;
  /**
   * Ask for a diskless transfer (REPLCONF capa eof): redis streams the RDB
   * straight from memory instead of writing it to its dir first. Redis then
   * waits repl-diskless-sync-delay (5 s by default) for other replicas
   * before starting, so the default disk-based transfer is usually quicker.
   */
  diskless?: boolean;
  username?: string;
  password?: string;
  /** A cache with `tls: true`: the CA and the name its certificate carries. */
  tls?: ConnectionOptions;
  /** The next step of a TIMEOUT error, in the caller's terms (SnapshotRequest.raiseTimeout). */
  raiseTimeout?: (suggestedMs: number) => string;
}

/** A caller that did not say how its user sets the limit: both ways. */
const raiseEitherWay = (ms: number): string =>
  `pass a larger timeoutMs, as in cache.snapshot(path, { timeoutMs: ${ms} }) in a test, ` +
  `or --timeout-ms ${ms} to kubecache snapshot`;

/**
 * The limit a TIMEOUT error suggests: at least twice the one that ran out,
 * and, when redis announced the payload's size, what the rate seen so far
 * needs for all of it with half again to spare. Never below the default nor
 * above what setTimeout can wait; whole seconds, as a user would type it.
 */
export function suggestedSnapshotTimeout(
  timeoutMs: number,
  received: number,
  expected?: number,
): number {
  let ms = Math.max(2 * timeoutMs, DEFAULT_SNAPSHOT_TIMEOUT_MS);
  if (expected !== undefined && received > 0) {
    ms = Math.max(ms, (timeoutMs * expected * 1.5) / received);
  }
  return Math.min(MAX_TIMEOUT_MS, Math.ceil(ms / 1000) * 1000);
}

const EOF_MARK_LENGTH = 40;
const MAX_PREAMBLE_LINE = 1024;

/**
 * Copies a live redis's dataset into an RDB file on the runner by posing as a
 * replica: SYNC makes redis send a full RDB, the same bytes its own replicas
 * load. This needs no exec into the pod and no writable volume on the
 * runner's side beyond outPath. ioredis cannot do this: it has no way to read
 * the raw payload that follows SYNC, so a plain socket is used.
 */
export async function snapshotRedis(
  endpoint: Endpoint,
  outPath: string,
  options: SnapshotOptions,
): Promise<SnapshotResult> {
  const target = resolve(outPath);
  const part = `${target}.part`;
  const where = `${endpoint.host}:${endpoint.port}`;
  const started = Date.now();
  const out = createWriteStream(part);
  try {
    await new Promise<void>((res, rej) => {
      out.once('open', () => res());
      out.once('error', rej);
    });
  } catch (err) {
    // The .part file is an internal detail: name what the user gave.
    const dir = dirname(target);
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT'
        ? `Cannot write the snapshot to ${target}: the directory ${dir} does not exist. Create it first (mkdir -p ${dir}) or pick a path in an existing directory.`
        : `Cannot write the snapshot to ${target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Pick a path this process can write.`;
    throw new KubecacheError(
      'BAD_OPTION',
      message,
      { path: target, directory: dir },
      { cause: err },
    );
  }
  let bytes: number;
  try {
    bytes = await transfer(endpoint, out, options);
    await new Promise<void>((res, rej) => {
      out.once('error', rej);
      out.end(() => res());
    });
  } catch (err) {
    out.destroy();
    await rm(part, { force: true });
    throw err;
  }

  let rdbVersion: number;
  try {
    // The version is whatever the server writes; loading it elsewhere is
    // checked when the file is used as a fixture.
    ({ rdbVersion } = await validateRdbFixture(part, { maxRdbVersion: 9999 }));
  } catch (err) {
    await rm(part, { force: true });
    throw new KubecacheError(
      'INTERNAL',
      `The snapshot of redis at ${where} is not a valid RDB file: ${(err as Error).message}`,
      { host: endpoint.host, port: endpoint.port },
      { cause: err },
    );
  }
  await rename(part, target);
  log('snapshot of %s: %d bytes in %d ms -> %s', where, bytes, Date.now() - started, target);
  return { bytes, rdbVersion };
}

type State =
  | { kind: 'handshake' }
  | { kind: 'sized'; remaining: number }
  | { kind: 'marked'; mark: Buffer; tail: Buffer }
  | { kind: 'done' };

function transfer(endpoint: Endpoint, out: WriteStream, options: SnapshotOptions): Promise<number> {
  const where = `${endpoint.host}:${endpoint.port}`;
  const details = { host: endpoint.host, port: endpoint.port };
  // Sent one at a time: redis refuses SYNC while earlier replies are still
  // queued ("SYNC and PSYNC are invalid with pending output").
  const commands: string[][] = [];
  if (options.password !== undefined) {
    commands.push(
      options.username === undefined
        ? ['AUTH', options.password]
        : ['AUTH', options.username, options.password],
    );
  }
  if (options.diskless) commands.push(['REPLCONF', 'capa', 'eof']);
  commands.push(['SYNC']);

  return new Promise<number>((resolvePromise, rejectPromise) => {
    let state: State = { kind: 'handshake' };
    let pending: Buffer = Buffer.alloc(0);
    let written = 0;
    let expected: number | undefined;
    let settled = false;
    const socket: Socket = options.tls
      ? tlsConnect({ ...options.tls, host: endpoint.host, port: endpoint.port })
      : connect({ host: endpoint.host, port: endpoint.port });

    const finish = (err?: KubecacheError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Closing is what ends the fake replica: redis drops it and stops
      // streaming the replication feed that follows the RDB.
      socket.destroy();
      if (err) rejectPromise(err);
      else resolvePromise(written);
    };
    const timer = setTimeout(() => {
      const suggested = suggestedSnapshotTimeout(options.timeoutMs, written, expected);
      const raise = options.raiseTimeout ?? raiseEitherWay;
      finish(
        new KubecacheError(
          'TIMEOUT',
          `Snapshot of redis at ${where} did not finish within its limit of ${options.timeoutMs} ms ` +
            `(${written}${expected === undefined ? '' : ` of ${expected}`} bytes received). ` +
            `A large dataset or a slow connection (a port-forward) needs a longer limit: ${raise(suggested)}. ` +
            'A paused cache (pause()) sends nothing until the pause ends: snapshot it after.',
          {
            ...details,
            timeoutMs: options.timeoutMs,
            received: written,
            ...(expected === undefined ? {} : { expected }),
            suggestedTimeoutMs: suggested,
          },
        ),
      );
    }, options.timeoutMs);

    const send = (argv: string[]): void => {
      let frame = `*${argv.length}\r\n`;
      for (const arg of argv) frame += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
      socket.write(frame);
    };

    const write = (data: Buffer): void => {
      if (data.length === 0) return;
      written += data.length;
      if (!out.write(data)) {
        socket.pause();
        out.once('drain', () => socket.resume());
      }
    };

    const body = (data: Buffer): void => {
      if (state.kind === 'sized') {
        const take = Math.min(state.remaining, data.length);
        write(data.subarray(0, take));
        state.remaining -= take;
        if (state.remaining === 0) {
          state = { kind: 'done' };
          finish();
        }
      } else if (state.kind === 'marked') {
        // The payload ends with the 40-byte mark from the header; the last 40
        // bytes are held back until it is clear they are not the mark.
        const combined = state.tail.length > 0 ? Buffer.concat([state.tail, data]) : data;
        const at = combined.indexOf(state.mark);
        if (at !== -1) {
          write(combined.subarray(0, at));
          state = { kind: 'done' };
          finish();
          return;
        }
        const keep = Math.min(EOF_MARK_LENGTH, combined.length);
        write(combined.subarray(0, combined.length - keep));
        state.tail = Buffer.from(combined.subarray(combined.length - keep));
      }
    };

    const handshake = (data: Buffer): void => {
      pending = pending.length > 0 ? Buffer.concat([pending, data]) : data;
      for (;;) {
        // Redis sends bare newlines as keep-alives while it prepares the RDB.
        let start = 0;
        while (start < pending.length && pending[start] === 0x0a) start++;
        pending = pending.subarray(start);
        const end = pending.indexOf('\r\n');
        if (end === -1) {
          if (pending.length > MAX_PREAMBLE_LINE) {
            finish(protocolError(`an overlong reply line ${preview(pending)}`));
          }
          return;
        }
        const line = pending.subarray(0, end).toString('latin1');
        const rest = pending.subarray(end + 2);
        pending = Buffer.alloc(0);
        if (line.startsWith('-')) {
          finish(replyError(line.slice(1)));
          return;
        }
        if (line.startsWith('+') && commands.length > 0) {
          // The answer to AUTH or REPLCONF; on to the next command.
          send(commands.shift() as string[]);
          pending = rest;
          continue;
        }
        if (line.startsWith('$EOF:') && line.length === 5 + EOF_MARK_LENGTH) {
          state = {
            kind: 'marked',
            mark: Buffer.from(line.slice(5), 'latin1'),
            tail: Buffer.alloc(0),
          };
        } else if (/^\$[0-9]+$/.test(line)) {
          expected = Number(line.slice(1));
          state = { kind: 'sized', remaining: expected };
          log('snapshot of %s: %d bytes coming', where, expected);
          if (expected === 0) {
            finish(protocolError('an empty RDB payload'));
            return;
          }
        } else {
          finish(protocolError(`the unexpected reply ${preview(Buffer.from(line, 'latin1'))}`));
          return;
        }
        if (rest.length > 0) body(rest);
        return;
      }
    };

    const protocolError = (what: string): KubecacheError =>
      new KubecacheError(
        'INTERNAL',
        `Snapshot of redis at ${where} failed: SYNC was answered with ${what}. ` +
          'Is this a redis server, and not a proxy that hides replication commands?',
        details,
      );

    // A refusal the user can fix (the login, its ACL, the server's args) is
    // BAD_OPTION with that fix; only a reply nobody configured stays INTERNAL.
    const replyError = (message: string): KubecacheError => {
      const fix = /^(NOAUTH|WRONGPASS)/.test(message)
        ? 'Pass the password (and username) the server requires.'
        : /^NOPERM/.test(message)
          ? "This login may not run SYNC: use one that may, such as the cache's admin login " +
            '(cache.snapshot(path) in a test uses it).'
          : /^ERR unknown command/i.test(message)
            ? 'This server has no SYNC command (renamed or disabled, e.g. with --rename-command ' +
              "in the cache's args): leave SYNC in place to snapshot it."
            : undefined;
      return new KubecacheError(
        fix ? 'BAD_OPTION' : 'INTERNAL',
        `Snapshot of redis at ${where} failed: redis answered "${message}". ` +
          (fix ?? 'The server must allow SYNC and not be a replica mid-resync.'),
        { ...details, reply: message },
      );
    };

    out.on('error', (err) => {
      finish(
        new KubecacheError(
          'INTERNAL',
          `Writing the snapshot of redis at ${where} to ${out.path} failed: ${err.message}. ` +
            'Check free disk space on the runner.',
          { ...details, path: String(out.path) },
          { cause: err },
        ),
      );
    });
    socket.once(options.tls ? 'secureConnect' : 'connect', () => {
      log('snapshot of %s: connected', where);
      send(commands.shift() as string[]);
    });
    socket.on('data', (data: Buffer) => {
      if (settled) return;
      if (state.kind === 'handshake') handshake(data);
      else body(data);
    });
    socket.on('error', (err) => {
      finish(
        new KubecacheError(
          'UNREACHABLE',
          `Snapshot of redis at ${where} failed: ${err.message}. ` +
            'Check that the cache is running and its port is forwarded.',
          details,
          { cause: err },
        ),
      );
    });
    socket.on('close', () => {
      if (state.kind === 'done') return;
      const progress =
        state.kind === 'handshake'
          ? 'before sending any data'
          : `after ${written}${expected === undefined ? '' : ` of ${expected}`} bytes`;
      finish(
        new KubecacheError(
          'UNREACHABLE',
          `Redis at ${where} closed the connection ${progress} of the snapshot. ` +
            'Its server log says why; a disk-based SYNC needs a writable dir on the server, ' +
            'so try the diskless option if it has none.',
          { ...details, received: written },
        ),
      );
    });
  }).catch((err: unknown) => {
    if (isKubecacheError(err)) throw err;
    throw new KubecacheError(
      'INTERNAL',
      `Snapshot of redis at ${where} failed: ${(err as Error).message}`,
      details,
      { cause: err },
    );
  });
}

function preview(data: Buffer): string {
  return JSON.stringify(data.subarray(0, 60).toString('latin1'));
}
