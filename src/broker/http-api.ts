import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import createDebug from 'debug';
import { ENGINE_NAMES, isEngineName } from '../engines/registry.js';
import { KubecacheError, serializeError } from '../errors.js';
import { bearer, newToken, tokensEqual } from './auth.js';
import type { Broker } from './broker.js';
import { checkOutageRequest } from './outages.js';
import type { AcquireRequest } from './types.js';

const debug = createDebug('kubecache:api');

export interface BrokerApi {
  url: string;
  token: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

/** More routes, by "METHOD /path" (the daemon's run routes); each gets the JSON body. */
export type ExtraRoutes = Record<string, (body: unknown) => Promise<unknown>>;

/**
 * The broker's local API for test workers, on loopback only and guarded by a
 * per-run random token, so other local processes cannot create or read caches.
 */
export async function startBrokerApi(broker: Broker, extra: ExtraRoutes = {}): Promise<BrokerApi> {
  const token = newToken();
  const server: Server = createServer((req, res) => {
    handle(broker, token, req, res, extra).catch((err: unknown) =>
      reply(res, statusFor(err), serializeError(err)),
    );
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  debug('listening on %s', url);
  return {
    url,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  broker: Broker,
  token: string,
  req: IncomingMessage,
  res: ServerResponse,
  extra: ExtraRoutes,
): Promise<void> {
  const given = bearer(req.headers.authorization);
  if (!given || !tokensEqual(given, token)) {
    reply(res, 401, serializeError(new KubecacheError('BROKER', 'missing or wrong broker token.')));
    return;
  }
  const url = new URL(req.url ?? '/', 'http://broker');
  const route = `${req.method} ${url.pathname}`;
  debug('%s', route);
  if (route === 'POST /v1/acquire') {
    const body = (await readJson(req)) as AcquireRequest;
    if (!body || !isEngineName(body.engine) || typeof body.worker !== 'string') {
      throw new KubecacheError(
        'BAD_OPTION',
        `acquire needs {engine: ${ENGINE_NAMES.map((n) => `"${n}"`).join(' | ')}, worker: string}.`,
        {
          field: 'engine',
        },
      );
    }
    reply(res, 200, await broker.acquire(body));
    return;
  }
  const m = /^\/v1\/leases\/([0-9a-f]{16})(\/describe|\/release|\/outage)?$/.exec(url.pathname);
  if (m?.[1]) {
    const id = m[1];
    if (req.method === 'GET' && !m[2]) return reply(res, 200, broker.status(id));
    if (req.method === 'GET' && m[2] === '/describe')
      return reply(res, 200, await broker.describe(id));
    if (req.method === 'POST' && m[2] === '/release') {
      const body = (await readJson(req)) as { destroy?: boolean } | undefined;
      await broker.release(id, { destroy: body?.destroy === true });
      return reply(res, 200, { ok: true });
    }
    if (req.method === 'POST' && m[2] === '/outage') {
      return reply(res, 200, await broker.outage(id, checkOutageRequest(await readJson(req))));
    }
  }
  const more = extra[route];
  if (more) return reply(res, 200, await more(await readJson(req)));
  if (route === 'GET /v1/health')
    return reply(res, 200, { runId: broker.runId, namespace: broker.handle.namespace });
  reply(res, 404, serializeError(new KubecacheError('BROKER', `no route ${route}`)));
}

function statusFor(err: unknown): number {
  if (err instanceof KubecacheError) {
    if (err.code === 'BAD_OPTION' || err.code === 'BAD_FIXTURE') return 400;
    if (err.code === 'BROKER') return 409;
  }
  return 500;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new KubecacheError('BAD_OPTION', 'request body too large.');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new KubecacheError('BAD_OPTION', 'request body is not JSON.');
  }
}
