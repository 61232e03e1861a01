import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

// Jest's default CommonJS mode require()s kubecache/jest in every worker:
// that must load only the CommonJS build and never @kubernetes/client-node.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const consumer = join(repo, 'test', 'consumers', 'jest-29-cjs');

// @jest/globals only works inside a Jest worker, so it is stubbed here.
const probe = `
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === '@jest/globals') return { beforeAll() {}, beforeEach() {}, afterAll() {} };
  return load.call(this, request, ...rest);
};
const jest = require('kubecache/jest');
const environment = require('kubecache/jest/environment');
const client = require('kubecache/client');
const files = Object.keys(require.cache);
process.stdout.write(JSON.stringify({
  clientNode: files.filter((f) => f.includes('@kubernetes/client-node')),
  kubecache: files.filter((f) => f.includes('/node_modules/kubecache/')).map((f) => f.split('/node_modules/kubecache/')[1]),
  useCache: typeof jest.useCache,
  environment: typeof environment.default,
  openCache: typeof client.openCache,
}));
`;

describe('the CommonJS build, as installed from the tarball', () => {
  beforeAll(() => {
    const prepared = spawnSync(
      process.execPath,
      [join(repo, 'test', 'consumers', 'run.mjs'), '--prepare', 'jest-29-cjs'],
      { cwd: repo, encoding: 'utf8' },
    );
    expect(prepared.status, `${prepared.stdout}\n${prepared.stderr}`).toBe(0);
  }, 300_000);

  it('loads kubecache/jest, its environment and kubecache/client without client-node', () => {
    const run = spawnSync(process.execPath, ['-e', probe], { cwd: consumer, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const seen = JSON.parse(run.stdout) as {
      clientNode: string[];
      kubecache: string[];
      useCache: string;
      environment: string;
      openCache: string;
    };
    expect(seen.clientNode).toEqual([]);
    expect(seen.useCache).toBe('function');
    expect(seen.environment).toBe('function');
    expect(seen.openCache).toBe('function');
    expect(seen.kubecache.length).toBeGreaterThan(0);
    expect(seen.kubecache.filter((f) => !f.startsWith('dist/cjs/'))).toEqual([]);
  });
});
