import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isKubecacheError } from '../../src/errors.js';
import { RdbEndpoint } from '../../src/seed/rdb-endpoint.js';
import type { RdbFixtureInfo } from '../../src/seed/rdb-file.js';
import { validateRdbFixture } from '../../src/seed/rdb-file.js';
import { makeRdb, removeDir, tempDir } from './seed-fixtures/dataset.js';

const HOST = '127.0.0.1';

let dir: string;
let file: RdbFixtureInfo;
let endpoint: RdbEndpoint;

beforeAll(async () => {
  dir = await tempDir();
  const path = join(dir, 'served.rdb');
  await makeRdb(path, async (client) => {
    await client.set('big', randomBytes(300_000));
  });
  file = await validateRdbFixture(path);
});

afterAll(async () => {
  await removeDir(dir);
});

beforeEach(async () => {
  endpoint = await RdbEndpoint.start({ host: HOST, port: 0, advertiseHost: HOST });
});

afterEach(async () => {
  await endpoint.close();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Raw request: the path is sent exactly as given, with no URL normalisation. */
function get(path: string, token?: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: HOST,
        port: endpoint.port,
        path,
        method,
        headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function pathOf(url: string): string {
  return new URL(url).pathname;
}

describe('RdbEndpoint', () => {
  it('hands out unguessable ids and separate tokens', () => {
    const a = endpoint.register({ file, podName: 'pod-a', ttlMs: 60_000 });
    const b = endpoint.register({ file, podName: 'pod-b', ttlMs: 60_000 });
    expect(a.id).toMatch(/^[0-9a-f]{64}$/);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.url).toBe(`http://${HOST}:${endpoint.port}/rdb/${a.id}`);
    expect(b.id).not.toBe(a.id);
    expect(b.token).not.toBe(a.token);
  });

  it('serves the file once, with Content-Length, to the holder of the token', async () => {
    const reg = endpoint.register({ file, podName: 'pod-a', ttlMs: 60_000 });
    const first = await get(pathOf(reg.url), reg.token);
    expect(first.status).toBe(200);
    expect(first.headers['content-length']).toBe(String(file.size));
    expect(first.headers['content-type']).toBe('application/octet-stream');
    expect(createHash('sha256').update(first.body).digest('hex')).toBe(file.sha256);
    // One-time: the first complete fetch consumed the registration.
    expect((await get(pathOf(reg.url), reg.token)).status).toBe(404);
    expect(endpoint.stats()).toEqual({ served: 1, refused: 1 });
  });

  it('answers 401 for a missing, wrong or foreign token and keeps the entry', async () => {
    const a = endpoint.register({ file, podName: 'pod-a', ttlMs: 60_000 });
    const b = endpoint.register({ file, podName: 'pod-b', ttlMs: 60_000 });
    const missing = await get(pathOf(a.url));
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect((await get(pathOf(a.url), 'x'.repeat(43))).status).toBe(401);
    expect((await get(pathOf(a.url), `${a.token}x`)).status).toBe(401);
    expect((await get(pathOf(a.url), b.token)).status).toBe(401);
    expect((await get(pathOf(a.url), '')).status).toBe(401);
    expect(endpoint.stats()).toEqual({ served: 0, refused: 5 });
    // Failed attempts do not burn the registration.
    expect((await get(pathOf(a.url), a.token)).status).toBe(200);
    expect((await get(pathOf(b.url), b.token)).status).toBe(200);
  });

  it('accepts only the exact path and GET', async () => {
    const reg = endpoint.register({ file, podName: 'pod-a', ttlMs: 60_000 });
    const path = pathOf(reg.url);
    const tricks = [
      `${path}/`,
      `${path}?x=1`,
      `${path}?`,
      `${path}#frag`,
      `/${path}`,
      `/rdb//${reg.id}`,
      `/rdb/../rdb/${reg.id}`,
      `/rdb/./${reg.id}`,
      `/rdb%2F${reg.id}`,
      `/rdb/%2e%2e/${reg.id}`,
      `/RDB/${reg.id}`,
      `/rdb/${reg.id.toUpperCase()}`,
      `/rdb/${reg.id.slice(0, -1)}`,
      `/rdb/../x`,
      `/rdb/`,
      '/',
      `http://${HOST}:${endpoint.port}${path}`,
    ];
    for (const trick of tricks) {
      expect((await get(trick, reg.token)).status, trick).toBe(404);
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      expect((await get(path, reg.token, method)).status, method).toBe(404);
    }
    expect(endpoint.stats()).toEqual({ served: 0, refused: tricks.length + 4 });
    expect((await get(path, reg.token)).status).toBe(200);
  });

  it('answers 404 for unknown and expired ids', async () => {
    expect((await get(`/rdb/${'0'.repeat(64)}`, 'token')).status).toBe(404);
    const reg = endpoint.register({ file, podName: 'pod-a', ttlMs: 60_000 });
    endpoint.expire(reg.id);
    endpoint.expire(reg.id); // idempotent
    expect((await get(pathOf(reg.url), reg.token)).status).toBe(404);
  });

  it('expires registrations after ttlMs', async () => {
    const reg = endpoint.register({ file, podName: 'pod-a', ttlMs: 50 });
    await new Promise((r) => setTimeout(r, 120));
    expect((await get(pathOf(reg.url), reg.token)).status).toBe(404);
  });

  it('serves only the validated number of bytes', async () => {
    const path = join(dir, 'growing.rdb');
    await writeFile(path, Buffer.alloc(100, 1));
    const grown: RdbFixtureInfo = { ...file, path, size: 40 };
    const reg = endpoint.register({ file: grown, podName: 'pod-a', ttlMs: 60_000 });
    const reply = await get(pathOf(reg.url), reg.token);
    expect(reply.status).toBe(200);
    expect(reply.body.length).toBe(40);
  });

  it('rejects bad options and registrations after close', async () => {
    expect(() => endpoint.register({ file, podName: 'p', ttlMs: 0 })).toThrow(/ttlMs/);
    await expect(
      RdbEndpoint.start({ host: HOST, port: 70000, advertiseHost: HOST }),
    ).rejects.toThrow(/0 to 65535/);
    await expect(RdbEndpoint.start({ host: HOST, advertiseHost: '' })).rejects.toThrow(
      /KUBECACHE_ADVERTISE_URL/,
    );
    const closed = await RdbEndpoint.start({ host: HOST, advertiseHost: HOST });
    await closed.close();
    await closed.close();
    expect(() => closed.register({ file, podName: 'p', ttlMs: 1000 })).toThrow(/closed/);
  });

  it('reports a port in use as UNREACHABLE', async () => {
    const err = await RdbEndpoint.start({
      host: HOST,
      port: endpoint.port,
      advertiseHost: HOST,
    }).catch((e: unknown) => e);
    expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
    expect((err as Error).message).toMatch(/KUBECACHE_SEED_TRANSPORT=exec/);
  });

  it('brackets IPv6 advertise addresses and stops listening on close', async () => {
    const v6 = await RdbEndpoint.start({ host: HOST, advertiseHost: 'fd00::1' });
    const reg = v6.register({ file, podName: 'pod', ttlMs: 1000 });
    expect(reg.url).toBe(`http://[fd00::1]:${v6.port}/rdb/${reg.id}`);
    await v6.close();
    const port = endpoint.port;
    await endpoint.close();
    const refused = await new Promise<boolean>((resolve) => {
      const req = request({ host: HOST, port, path: '/' }, () => resolve(false));
      req.on('error', () => resolve(true));
      req.end();
    });
    expect(refused).toBe(true);
  });
});
