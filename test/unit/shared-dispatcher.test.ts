import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../src/kube/client.js';
import { shareDispatchers } from '../../src/kube/shared-dispatcher.js';
import { RunCertificateAuthority } from '../../src/security/ca.js';

// A loopback HTTPS server that answers GET /version like an API server and
// counts the TLS connections clients open to it.
let server: Server;
let connections = 0;
let url = '';
let caPem = '';
let servername = '';

beforeAll(async () => {
  const ca = await RunCertificateAuthority.create('dispatcher-test', 3_600_000);
  const cert = await ca.issueServer('api-server-test');
  caPem = ca.caPem;
  servername = cert.servername;
  server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ major: '1', minor: '37', gitVersion: 'v1.37.0' }));
    req.resume();
  });
  server.on('secureConnection', () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function kubeconfigFor(user = 'u'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: url,
        caData: Buffer.from(caPem).toString('base64'),
        tlsServerName: servername,
        skipTLSVerify: false,
      },
    ],
    users: [{ name: user, token: 'token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user }],
    currentContext: 'ctx',
  });
  return kc;
}

/** TLS connections 6 sequential and 4 concurrent GET /version calls open. */
async function connectionsFor(kc: KubeConfig): Promise<number> {
  const before = connections;
  const api = kc.makeApiClient(VersionApi);
  for (let i = 0; i < 6; i++) await api.getCode();
  await Promise.all(Array.from({ length: 4 }, () => api.getCode()));
  return connections - before;
}

describe('shared API connections', () => {
  it('client-node alone opens a TLS connection per call (why shareDispatchers exists)', async () => {
    // If this starts failing, client-node reuses connections itself and
    // src/kube/shared-dispatcher.ts can go.
    expect(await connectionsFor(kubeconfigFor())).toBe(10);
  });

  it('with shareDispatchers, calls reuse keep-alive connections', async () => {
    const kc = kubeconfigFor();
    shareDispatchers(kc);
    // One for the 6 sequential calls; the 4 concurrent ones may each open one.
    const opened = await connectionsFor(kc);
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(5);
  });

  it('every KubeConfig kubecache loads shares them', async () => {
    const file = join(tmpdir(), `kc-dispatcher-${process.pid}.yaml`);
    writeFileSync(file, kubeconfigFor().exportConfig());
    try {
      const { kc } = loadKubeConfig({ kubeconfig: file });
      expect(await connectionsFor(kc)).toBeLessThanOrEqual(5);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('keeps a separate agent per TLS identity', async () => {
    const kc = kubeconfigFor();
    shareDispatchers(kc);
    const make = (kc as unknown as { createDispatcher: (c: unknown, o: unknown) => unknown })
      .createDispatcher;
    const cluster = { server: url };
    const a = make(cluster, { ca: Buffer.from('ca-1') });
    expect(make(cluster, { ca: Buffer.from('ca-1') })).toBe(a);
    expect(make(cluster, { ca: Buffer.from('ca-2') })).not.toBe(a);
    expect(make(cluster, { ca: Buffer.from('ca-1'), rejectUnauthorized: false })).not.toBe(a);
    expect(make({ server: 'https://10.0.0.1:6443' }, { ca: Buffer.from('ca-1') })).not.toBe(a);
  });
});
