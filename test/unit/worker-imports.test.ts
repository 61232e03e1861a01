import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importChains, moduleSpecifiers, src } from './helpers/module-graph.js';

// Jest's CommonJS workers load everything under src/worker/ (and the public
// worker entries). @kubernetes/client-node is ESM-only and heavy, and the
// broker/kube code belongs to the main process: none of it may be reachable
// from the worker side, directly or through another module.

const FORBIDDEN_DIRS = ['broker', 'kube'].map((d) => join(src, d));
const FORBIDDEN_PACKAGES = ['@kubernetes/client-node'];

const forbiddenChains = (entry: string): string[] =>
  importChains(entry, { paths: FORBIDDEN_DIRS, packages: FORBIDDEN_PACKAGES });

function workerFiles(): string[] {
  const dir = join(src, 'worker');
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

describe('worker-side import boundary', () => {
  it('finds the worker files', () => {
    const names = workerFiles().map((f) => relative(src, f));
    expect(names).toEqual(
      expect.arrayContaining(['worker/broker-client.ts', 'worker/open-cache.ts']),
    );
  });

  it('no file under src/worker/ reaches client-node, src/kube or src/broker', () => {
    const chains = workerFiles().flatMap((f) => forbiddenChains(f));
    expect(chains).toEqual([]);
  });

  it('the public worker entries (kubecache/client, the Jest environment) stay on the worker side', () => {
    const entries = ['client/index.ts', 'jest/environment.ts'].map((f) => join(src, f));
    expect(entries.flatMap((f) => forbiddenChains(f))).toEqual([]);
  });

  it('config/env.ts, which worker code reads its variables through, stays on the worker side', () => {
    const entries = [join(src, 'config', 'env.ts')];
    expect(entries.flatMap((f) => forbiddenChains(f))).toEqual([]);
  });

  it('the checker itself sees broker and client-node imports', () => {
    // src/runner/session.ts is main-process code that uses the broker: the
    // walk must report it, or the assertions above prove nothing.
    const chains = forbiddenChains(join(src, 'runner', 'session.ts'));
    expect(chains.length).toBeGreaterThan(0);
    expect(
      moduleSpecifiers(
        "import type { A } from './a.js';\nexport { b } from \"./b.js\";\nconst c = await import('./c.js');",
      ),
    ).toEqual(['./a.js', './b.js', './c.js']);
  });
});

describe('the one client-node import', () => {
  // The package build swaps src/kube/client-node.ts for a bundle of
  // client-node (it loads in a third of the time). A module that imported the
  // package itself would load the thousand unbundled files again, and its
  // KubeConfig would be another class than the one kube/shared-dispatcher.ts
  // patches.
  it('only src/kube/client-node.ts names @kubernetes/client-node', () => {
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(src, f));
    const naming = files
      .filter((f) =>
        moduleSpecifiers(readFileSync(f, 'utf8')).some((s) =>
          FORBIDDEN_PACKAGES.some((p) => s === p || s.startsWith(`${p}/`)),
        ),
      )
      .map((f) => relative(src, f));
    expect(naming).toEqual(['kube/client-node.ts']);
  });
});
