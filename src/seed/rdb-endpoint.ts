import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import debug from 'debug';
import { KubecacheError } from '../errors.js';
import type { RdbFixtureInfo } from './rdb-file.js';

const log = debug('kubecache:seed');

export interface RdbEndpointOptions {
  /** Bind address; the default listens on every interface so pods can reach it. */
  host?: string;
  /** 0 or omitted picks a free port. */
  port?: number;
  /** Address pods use to reach this process (see pickAdvertiseHost). */
  advertiseHost: string;
}

export interface RdbRegistration {
  id: string;
  url: string;
  token: string;
}

export interface RdbRegisterInput {
  file: RdbFixtureInfo;
  podName: string;
  ttlMs: number;
}

export interface RdbEndpointStats {
  /** Downloads that were sent completely. */
  served: number;
  /** Requests answered 401 or 404. */
  refused: number;
}

interface Entry {
  file: RdbFixtureInfo;
  podName: string;
  tokenDigest: Buffer;
  timer: NodeJS.Timeout;
}

// Exactly one path shape is accepted. Matching the raw request target (never a
// decoded or normalised one) means dot segments, %2F, doubled or trailing
// slashes and query strings cannot reach an entry by accident.
const ROUTE = /^\/rdb\/([0-9a-f]{64})$/;
const BEARER = /^Bearer ([A-Za-z0-9_-]+)$/;

/**
 * Serves registered RDB fixtures to cache pods over plain HTTP. Each
 * registration has its own unguessable id and bearer token and is good for
 * one complete download, so a URL leaked in logs is worthless afterwards.
 */
export class RdbEndpoint {
  readonly advertiseHost: string;
  readonly port: number;
  private readonly server: Server;
  private readonly entries = new Map<string, Entry>();
  private counters: RdbEndpointStats = { served: 0, refused: 0 };
  private closed = false;

  private constructor(server: Server, port: number, advertiseHost: string) {
    this.server = server;
    this.port = port;
    this.advertiseHost = advertiseHost;
  }

  static async start(options: RdbEndpointOptions): Promise<RdbEndpoint> {
    const host = options.host ?? '0.0.0.0';
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new KubecacheError(
        'BAD_OPTION',
        `The RDB endpoint port must be an integer from 0 to 65535, got ${String(port)}; ` +
          'use 0 to pick a free one.',
        { port },
      );
    }
    if (!options.advertiseHost) {
      throw new KubecacheError(
        'BAD_OPTION',
        'The RDB endpoint needs an advertiseHost that pods can reach; ' +
          'set KUBECACHE_ADVERTISE_URL, or KUBECACHE_SEED_TRANSPORT=exec (or seed: {kind: "rdb", path, transport: "exec"}).',
      );
    }
    let endpoint: RdbEndpoint | undefined;
    const server = createServer((req, res) => {
      // The handler only runs once listen() resolved, so endpoint is set.
      endpoint?.handle(req, res);
    });
    // A request that never finishes its headers must not pin a socket for long.
    server.headersTimeout = 10_000;
    server.requestTimeout = 0;
    server.listen(port, host);
    try {
      await Promise.race([
        once(server, 'listening'),
        once(server, 'error').then(([err]) => Promise.reject(err)),
      ]);
    } catch (err) {
      server.close();
      throw new KubecacheError(
        'UNREACHABLE',
        `Could not listen for RDB downloads on ${host}:${port}: ${(err as Error).message}. ` +
          'Free the port or pick another one, or set KUBECACHE_SEED_TRANSPORT=exec, which needs no listener.',
        { host, port },
        { cause: err },
      );
    }
    const address = server.address() as AddressInfo;
    endpoint = new RdbEndpoint(server, address.port, options.advertiseHost);
    log('RDB endpoint listening on %s:%d, advertised as %s', host, address.port, endpoint.baseUrl);
    return endpoint;
  }

  /** `http://<advertiseHost>:<port>`, bracketing IPv6 addresses. */
  get baseUrl(): string {
    const host = this.advertiseHost.includes(':') ? `[${this.advertiseHost}]` : this.advertiseHost;
    return `http://${host}:${this.port}`;
  }

  register(input: RdbRegisterInput): RdbRegistration {
    if (this.closed) {
      throw new KubecacheError(
        'INTERNAL',
        `Cannot register an RDB download for pod ${input.podName}: the endpoint is closed.`,
        { podName: input.podName },
      );
    }
    if (!Number.isFinite(input.ttlMs) || input.ttlMs <= 0) {
      throw new KubecacheError(
        'BAD_OPTION',
        `RDB download ttlMs must be a positive number of milliseconds, got ${String(input.ttlMs)}.`,
        { ttlMs: input.ttlMs, podName: input.podName },
      );
    }
    const id = randomBytes(32).toString('hex');
    const token = randomBytes(32).toString('base64url');
    const timer = setTimeout(() => {
      if (this.entries.delete(id)) log('RDB download for pod %s expired unused', input.podName);
    }, input.ttlMs);
    // An unused registration must never keep the test process alive.
    timer.unref();
    this.entries.set(id, {
      file: input.file,
      podName: input.podName,
      tokenDigest: digest(token),
      timer,
    });
    log('registered %s for pod %s (%d bytes)', input.file.path, input.podName, input.file.size);
    return { id, url: `${this.baseUrl}/rdb/${id}`, token };
  }

  /** Drops a registration, e.g. once its pod is ready and no longer needs it. */
  expire(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.entries.delete(id);
  }

  stats(): RdbEndpointStats {
    return { ...this.counters };
  }

  /** Stops listening and cuts any download still running; registrations are forgotten. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await done;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const match = req.method === 'GET' ? ROUTE.exec(req.url ?? '') : null;
    const id = match?.[1];
    const entry = id === undefined ? undefined : this.entries.get(id);
    if (id === undefined || entry === undefined) {
      this.refuse(res, 404, `${req.method} ${truncate(req.url)}: no such download`);
      return;
    }
    const presented = BEARER.exec(req.headers.authorization ?? '')?.[1];
    // Comparing digests keeps the comparison constant-time and length-independent.
    if (presented === undefined || !timingSafeEqual(digest(presented), entry.tokenDigest)) {
      this.refuse(res, 401, `bad or missing token for the download of pod ${entry.podName}`);
      return;
    }
    // Consumed before the first byte is sent: a second request, even a
    // concurrent one, never gets the file.
    this.expire(id);
    void this.send(res, entry);
  }

  private async send(res: ServerResponse, entry: Entry): Promise<void> {
    const { file, podName } = entry;
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(file.size),
      'Cache-Control': 'no-store',
    });
    try {
      // Bounded to the validated size: a fixture that grew since validation
      // cannot send more than Content-Length promised; one that shrank fails
      // the pod's size check instead of loading something else.
      await streamFile(file.path, file.size, res);
      this.counters.served++;
      log('served %s to pod %s', file.path, podName);
    } catch (err) {
      log('download of %s by pod %s failed: %s', file.path, podName, (err as Error).message);
      res.destroy();
    }
  }

  private refuse(res: ServerResponse, status: 401 | 404, reason: string): void {
    this.counters.refused++;
    log('refused (%d): %s', status, reason);
    const headers: Record<string, string> = { 'Content-Type': 'text/plain', 'Content-Length': '0' };
    if (status === 401) headers['WWW-Authenticate'] = 'Bearer';
    res.writeHead(status, headers);
    res.end();
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function truncate(url: string | undefined): string {
  const text = url ?? '';
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}

const SEND_CHUNK = 256 * 1024;

/**
 * Sends the first `size` bytes of a file through one reused buffer, reading
 * the next chunk only after the socket took the previous one. A read stream
 * would allocate a new buffer per chunk, and four pods fetching a 100 MB
 * fixture would then pile hundreds of MB of garbage onto the runner's RSS.
 */
async function streamFile(path: string, size: number, res: ServerResponse): Promise<void> {
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(Math.min(SEND_CHUNK, Math.max(size, 1)));
  try {
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) throw new Error(`${path} shrank to ${pos} bytes while being sent`);
      await new Promise<void>((resolve, reject) => {
        const onClose = (): void => reject(new Error('the pod closed the connection'));
        res.once('close', onClose);
        res.write(buf.subarray(0, bytesRead), (err) => {
          res.off('close', onClose);
          if (err) reject(err);
          else resolve();
        });
      });
      pos += bytesRead;
    }
    await new Promise<void>((resolve) => res.end(resolve));
  } finally {
    await fh.close();
  }
}
