import { ENV_BROKER_URL, readBrokerVars } from '../config/env.js';
import { fromJSON, isKubecacheError, KubecacheError } from '../errors.js';
import type {
  AcquireRequest,
  CacheLease,
  LeaseStatus,
  OutageRequest,
  OutageResult,
} from './protocol.js';

// Importing node:http as an ES module builds its namespace from every
// export, and the lazy WebSocket export among them compiles Node's bundled
// undici: about 90 ms of CPU in every test file's process (Vitest forks one
// per file). getBuiltinModule hands out the module without reading them.
const { request } = process.getBuiltinModule('node:http');

// Worker side of the broker API. Deliberately free of @kubernetes/client-node
// (ESM-only, and heavy): Jest's CommonJS workers must be able to load it.

// Part of the public API (kubecache, kubecache/client); defined in env.ts.
export { ENV_BROKER_TOKEN, ENV_BROKER_URL } from '../config/env.js';

export class BrokerClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv = process.env): BrokerClient {
    const vars = readBrokerVars(env);
    if (vars === undefined) {
      throw new KubecacheError(
        'BROKER',
        `no kubecache broker in this process (${ENV_BROKER_URL} is not set). Add kubecache's globalSetup to the test runner config (Vitest: globalSetup: ['kubecache/vitest/global-setup'], Jest: preset: 'kubecache').`,
      );
    }
    return new BrokerClient(vars.url, vars.token);
  }

  acquire(req: AcquireRequest): Promise<CacheLease> {
    return this.call('POST', '/v1/acquire', req);
  }

  status(id: string): Promise<LeaseStatus> {
    return this.call('GET', `/v1/leases/${id}`);
  }

  describe(id: string): Promise<{ podName: string; events: string[]; logs: string }> {
    return this.call('GET', `/v1/leases/${id}/describe`);
  }

  release(id: string, opts: { destroy?: boolean } = {}): Promise<{ ok: true }> {
    return this.call('POST', `/v1/leases/${id}/release`, opts);
  }

  /** A real fault on the lease's cache server (stop/start/restart/pause). */
  outage(id: string, req: OutageRequest): Promise<OutageResult> {
    return this.call('POST', `/v1/leases/${id}/outage`, req);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await brokerRequest<T>(`${this.url}${path}`, method, this.token, body);
    } catch (err) {
      if (isKubecacheError(err)) throw err;
      throw new KubecacheError(
        'BROKER',
        `the kubecache broker at ${this.url} did not answer (${(err as Error).message}). ` +
          "It runs in the test runner's main process (or, with reuse, in the kubecache daemon the runner's " +
          "output names) and stops when the run ends; check the runner's output above for an error from " +
          "kubecache's global setup.",
        {},
        { cause: err },
      );
    }
  }
}

/**
 * One call to a broker (or the daemon): its JSON answer, or the
 * KubecacheError it answered with. A failed connection rejects with the
 * network error itself, for the caller to tell it from an answer.
 */
export async function brokerRequest<T>(
  url: string,
  method: string,
  token: string,
  body?: unknown,
  timeoutMs?: number,
  opts: CallOptions = {},
): Promise<T> {
  const res = await httpCall(url, method, token, body, timeoutMs, opts);
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    json = undefined;
  }
  if (res.status < 200 || res.status >= 300) throw fromJSON(json ?? res.text);
  return json as T;
}

export interface CallOptions {
  /** The call does not keep the process alive (a long poll in the background). */
  unref?: boolean;
}

/**
 * node:http rather than fetch: test environments such as jsdom replace the
 * globals a worker sees, and jsdom's has no fetch. node:http is the same
 * module in every environment, and the broker is always on loopback.
 */
function httpCall(
  url: string,
  method: string,
  token: string,
  body: unknown,
  timeoutMs: number | undefined,
  opts: CallOptions,
): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        // A fresh loopback connection per call: no pooled socket outlives the
        // test file (Jest's --detectOpenHandles would report one).
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    if (opts.unref) req.on('socket', (socket) => socket.unref());
    if (timeoutMs !== undefined) {
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    }
    req.end(payload);
  });
}
