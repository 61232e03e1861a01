import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Jest's CommonJS workers load everything under src/worker/ (and the public
// worker entries). @kubernetes/client-node is ESM-only and heavy, and the
// broker/kube code belongs to the main process: none of it may be reachable
// from the worker side, directly or through another module.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(repo, 'src');
const FORBIDDEN_DIRS = ['broker', 'kube'].map((d) => join(src, d));
const FORBIDDEN_PACKAGES = ['@kubernetes/client-node'];

/** Every module specifier a TypeScript source mentions: import/export ... from, import(), require(). */
function moduleSpecifiers(code: string): string[] {
  const specs: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.push(m[1] as string);
  return specs;
}

function resolveLocal(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Import chains from `entry` that end in a forbidden module, as readable strings. */
function forbiddenChains(entry: string): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (file: string, chain: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of moduleSpecifiers(readFileSync(file, 'utf8'))) {
      const here = [...chain, relative(repo, file)];
      if (FORBIDDEN_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) {
        found.push([...here, spec].join(' -> '));
        continue;
      }
      if (!spec.startsWith('.')) continue;
      const target = resolveLocal(file, spec);
      if (!target) continue;
      if (FORBIDDEN_DIRS.some((d) => target.startsWith(`${d}/`))) {
        found.push([...here, relative(repo, target)].join(' -> '));
        continue;
      }
      walk(target, here);
    }
  };
  walk(entry, []);
  return found;
}

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
