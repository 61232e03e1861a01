import { fromJSON, KubecacheError } from '../errors.js';
import type {
  AcquireRequest,
  CacheLease,
  LeaseStatus,
  OutageRequest,
  OutageResult,
} from './protocol.js';

// Worker side of the broker API. Deliberately free of @kubernetes/client-node
// (ESM-only, and heavy): Jest's CommonJS workers must be able to load it.

export const ENV_BROKER_URL = 'KUBECACHE_BROKER_URL';
export const ENV_BROKER_TOKEN = 'KUBECACHE_BROKER_TOKEN';

export class BrokerClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv = process.env): BrokerClient {
    const url = env[ENV_BROKER_URL];
    const token = env[ENV_BROKER_TOKEN];
    if (!url || !token) {
      throw new KubecacheError(
        'BROKER',
        `no kubecache broker in this process (${ENV_BROKER_URL} is not set). Add kubecache's globalSetup to the test runner config (Vitest: globalSetup: ['kubecache/vitest/global-setup'], Jest: preset: 'kubecache').`,
      );
    }
    return new BrokerClient(url, token);
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
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new KubecacheError(
        'BROKER',
        `the kubecache broker at ${this.url} is gone (${(err as Error).message}); did the runner's global setup exit?`,
        {},
        { cause: err },
      );
    }
    const json: unknown = await res.json().catch(() => undefined);
    if (!res.ok) throw fromJSON(json);
    return json as T;
  }
}
