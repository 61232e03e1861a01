import { connect } from 'node:net';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeHandle } from '../../src/kube/client.js';
import { execInPod } from '../../src/kube/exec.js';
import { startPortForward } from '../../src/kube/port-forward.js';
import { adminHandle } from '../support/admin-handle.js';
import { deleteNamespace, ensureNamespace, serviceAccountKubeconfig } from '../support/cluster.js';
import { pingRedis } from '../support/redis-ping.js';

// The dev cluster's own acceptance test: a real pod from the default redis
// image, reached by Pod IP, exec with stdin, port-forward and RBAC.

const NS = 'kc-devcluster';
const OTHER_NS = 'kc-devcluster-other';

/** One PING by Pod IP or through a port-forward, 3 s at most. */
const redisPing = (host: string, port: number): Promise<string> => pingRedis(host, port, 3000);

async function waitRunning(core: CoreV1Api, name: string): Promise<V1Pod> {
  for (let i = 0; i < 300; i++) {
    const pod = await core.readNamespacedPod({ name, namespace: NS });
    if (pod.status?.phase === 'Running' && pod.status.podIP) return pod;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pod ${name} did not become Running`);
}

describe('dev cluster', () => {
  let core: CoreV1Api;
  let handle: KubeHandle;
  let podIP = '';
  const pod = 'redis-acceptance';

  beforeAll(async () => {
    handle = adminHandle(NS);
    core = handle.core;
    await ensureNamespace(NS);
  });

  afterAll(async () => {
    await deleteNamespace(NS);
    await deleteNamespace(OTHER_NS);
  });

  it('runs a pod from the default redis image until Running with an IP', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: pod },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'redis', image: 'redis:7-alpine', imagePullPolicy: 'IfNotPresent' }],
        },
      },
    });
    const running = await waitRunning(core, pod);
    podIP = running.status?.podIP ?? '';
    expect(podIP).toMatch(/^10\.24\d\.\d+\.\d+$/); // 10.244/16 (newest) or 10.245/16 (oldest)
    expect(running.status?.containerStatuses?.[0]?.image).toContain('redis:7-alpine');
  });

  it('answers PONG on the Pod IP from the host', async () => {
    expect(await redisPing(podIP, 6379)).toBe('+PONG');
  });

  it('writes a file through exec with stdin and reads it back', async () => {
    const payload = `hello from the host ${Date.now()}\nsecond line\n`;
    const write = await execInPod(handle, {
      pod,
      container: 'redis',
      command: ['sh', '-c', 'cat > /data/probe.txt && wc -c < /data/probe.txt'],
      stdin: payload,
      timeoutMs: 20_000,
    });
    expect(write.exitCode).toBe(0);
    expect(Number(write.stdout.trim())).toBe(Buffer.byteLength(payload));
    const read = await execInPod(handle, {
      pod,
      container: 'redis',
      command: ['cat', '/data/probe.txt'],
      timeoutMs: 20_000,
    });
    expect(read).toEqual({ exitCode: 0, stdout: payload, stderr: '' });
    const failing = await execInPod(handle, {
      pod,
      container: 'redis',
      command: ['sh', '-c', 'echo oops >&2; exit 3'],
      timeoutMs: 20_000,
    });
    expect(failing).toEqual({ exitCode: 3, stdout: '', stderr: 'oops\n' });
  });

  it('port-forwards a local port to 6379 and answers PONG', async () => {
    const fwd = await startPortForward(handle, pod, 6379);
    try {
      expect(fwd.host).toBe('127.0.0.1');
      expect(fwd.port).not.toBe(6379);
      expect(await redisPing(fwd.host, fwd.port)).toBe('+PONG');
      // A second connection after the first closed gets its own tunnel.
      expect(await redisPing(fwd.host, fwd.port)).toBe('+PONG');
    } finally {
      await fwd.close();
    }
  });

  it('times out an exec that does not finish, with the TIMEOUT code', async () => {
    const err = await execInPod(handle, {
      pod,
      container: 'redis',
      command: ['sleep', '30'],
      timeoutMs: 500,
    }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('TIMEOUT');
  });

  it('closes port-forward sockets both ways and serves a new connection after a dropped one', async () => {
    const fwd = await startPortForward(handle, pod, 6379);
    try {
      // The local client hangs up mid-session: its tunnel goes away too.
      const dropped = connect({ host: fwd.host, port: fwd.port });
      await new Promise((r) => dropped.once('connect', r));
      dropped.write('PING\r\n');
      await new Promise((r) => dropped.once('data', r));
      dropped.destroy();
      for (let i = 0; i < 50 && fwd.connections() > 0; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(fwd.connections()).toBe(0);
      expect(await redisPing(fwd.host, fwd.port)).toBe('+PONG');
      // A client of a port nothing listens on gets its socket closed, not a hang.
      const refused = await startPortForward(handle, pod, 6390);
      try {
        const s = connect({ host: refused.host, port: refused.port });
        s.on('error', () => {});
        s.write('PING\r\n');
        await new Promise((r) => s.once('close', r));
        expect(s.destroyed).toBe(true);
      } finally {
        await refused.close();
      }
    } finally {
      await fwd.close();
    }
  });

  it('refuses a restricted ServiceAccount creating pods in another namespace (403)', async () => {
    await ensureNamespace(OTHER_NS);
    const file = await serviceAccountKubeconfig(NS, 'limited', [
      { resources: ['pods'], verbs: ['create', 'get', 'list', 'delete'] },
    ]);
    const limited = new KubeConfig();
    limited.loadFromFile(file);
    const api = limited.makeApiClient(CoreV1Api);
    const body = {
      metadata: { name: 'not-allowed' },
      spec: { containers: [{ name: 'c', image: 'redis:7-alpine' }] },
    };
    const err = await api
      .createNamespacedPod({ namespace: OTHER_NS, body })
      .catch((e: unknown) => e);
    expect((err as { code?: number }).code).toBe(403);
    expect(String((err as { body?: unknown }).body)).toContain('cannot create resource \\"pods\\"');
    // The same account may create pods in its own namespace: the 403 is RBAC, not a broken token.
    const own = await api.createNamespacedPod({
      namespace: NS,
      body: { ...body, metadata: { name: 'allowed' } },
    });
    expect(own.metadata?.name).toBe('allowed');
    await api.deleteNamespacedPod({ name: 'allowed', namespace: NS, gracePeriodSeconds: 0 });
  });

  it('deletes everything it created; a forwarded connection to the deleted pod is closed', async () => {
    const fwd = await startPortForward(handle, pod, 6379);
    const idle = connect({ host: fwd.host, port: fwd.port });
    idle.on('error', () => {});
    await new Promise((r) => idle.once('connect', r));
    expect(await redisPing(fwd.host, fwd.port)).toBe('+PONG');
    const closed = new Promise((r) => idle.once('close', r));
    await core.deleteNamespacedPod({ name: pod, namespace: NS, gracePeriodSeconds: 0 });
    await closed;
    expect(idle.destroyed).toBe(true);
    await fwd.close();
    for (let i = 0; i < 200; i++) {
      const left = await core.listNamespacedPod({ namespace: NS });
      if (left.items.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await core.listNamespacedPod({ namespace: NS })).items).toEqual([]);
    expect((await core.listNamespacedPod({ namespace: OTHER_NS })).items).toEqual([]);
  });
});
