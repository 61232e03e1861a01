import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// The benchmarks under test/bench/ run by hand against the dev cluster, not
// in CI, and reach into the built package's internals (dist/...) and into
// other test code (test helpers, the consumer runner). When the source moves,
// they break silently until someone measures again: a file reorganisation
// once left every benchmark importing paths that no longer existed. This test
// checks, against the dist/ that test.sh builds, that every module a
// benchmark imports by a relative path exists and exports the names it
// takes, for the ESM build and, where a benchmark requires it, the CommonJS
// one.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const benchDir = join(repo, 'test/bench');
const require = createRequire(import.meta.url);

interface Use {
  bench: string;
  module: string;
  names: string[];
  cjs: boolean;
  /** Imported by code the benchmark writes into a generated project, not by the benchmark. */
  generated: boolean;
}

function uses(): Use[] {
  const found: Use[] = [];
  for (const file of readdirSync(benchDir).filter((f) => f.endsWith('.mjs'))) {
    const text = readFileSync(join(benchDir, file), 'utf8');
    const names = (list: string) =>
      list
        .split(',')
        .map((n) => n.trim().split(/\s+as\s+/)[0] ?? '')
        .filter((n) => n !== '' && !n.startsWith('type '));
    // The benchmark's own imports: import { a, b } from '../../dist/x.js',
    // './common.mjs', and const { a } = await import('../unit/helpers/x.ts').
    for (const m of text.matchAll(
      /(?:import\s*\{([^}]*)\}\s*from\s*|const\s*\{([^}]*)\}\s*=\s*await\s+import\(\s*)'(\.\.?\/[^']+)'/g,
    )) {
      found.push({
        bench: file,
        module: relative(repo, join(benchDir, m[3] ?? '')),
        names: names(m[1] ?? m[2] ?? ''),
        cjs: false,
        generated: false,
      });
    }
    // Code a benchmark writes into generated test files:
    // import { a } from '${join(dir, dist, 'x.js')}' and require('${join(dir, dist, 'x.js')}').
    for (const m of text.matchAll(
      /(?:import\s*\{([^}]*)\}\s*from|const\s*\{([^}]*)\}\s*=\s*require\()\s*'\$\{join\(dir, dist, '([^']+)'\)\}'/g,
    )) {
      const esm = m[1] !== undefined;
      found.push({
        bench: file,
        module: esm ? `dist/${m[3]}` : `dist/cjs/${m[3]}`,
        names: names(m[1] ?? m[2] ?? ''),
        cjs: !esm,
        generated: true,
      });
    }
  }
  return found;
}

describe('benchmark scripts against the built package', () => {
  const all = uses();

  it('finds the imports of the benchmarks (the patterns still match)', () => {
    expect(all.some((u) => u.bench === 'suite.mjs' && u.cjs)).toBe(true);
    expect(all.some((u) => u.bench === 'per-file.mjs')).toBe(true);
    // Every relative path a benchmark imports, in any form, is among the
    // uses checked below: an import the patterns miss would go unchecked.
    const named = readdirSync(benchDir)
      .filter((f) => f.endsWith('.mjs'))
      .flatMap((file) =>
        [
          ...readFileSync(join(benchDir, file), 'utf8').matchAll(
            /(?:\bfrom\s*|\bimport\(\s*)'(\.\.?\/[^']+)'/g,
          ),
        ].map((m) => `${file}: ${relative(repo, join(benchDir, m[1] ?? ''))}`),
      );
    expect(named.length).toBeGreaterThan(0);
    const checked = all.filter((u) => !u.generated).map((u) => `${u.bench}: ${u.module}`);
    expect(checked.sort()).toEqual(named.sort());
    expect(all.every((u) => u.names.length > 0)).toBe(true);
  });

  it.each(all.map((u) => [`${u.bench}: ${u.module}`, u] as const))(
    '%s exists and exports what the benchmark takes',
    async (_label, use) => {
      const path = join(repo, use.module);
      const mod: Record<string, unknown> = use.cjs
        ? require(path)
        : await import(pathToFileURL(path).href);
      for (const name of use.names)
        expect(mod[name], `${use.module} exports ${name}`).toBeDefined();
    },
  );
});
