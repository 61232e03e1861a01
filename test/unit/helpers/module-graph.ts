import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// A small reader of the source tree's import graph, for the tests that keep
// heavy or main-process modules out of places that must stay light.

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const src = join(repo, 'src');

/**
 * Every module specifier a TypeScript source mentions: import/export ... from,
 * import(), require(). `runtime`: only what Node loads when the module loads
 * (no `import type`, no dynamic import()).
 */
export function moduleSpecifiers(code: string, opts: { runtime?: boolean } = {}): string[] {
  const specs: string[] = [];
  const staticForm = opts.runtime
    ? /\b(?:import|export)\s+(?!type\s)(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g
    : /\b(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g;
  const patterns = opts.runtime
    ? [staticForm, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g]
    : [
        staticForm,
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

/** Import chains from `entry` that end in a forbidden file, directory or package, as readable strings. */
export function importChains(
  entry: string,
  forbidden: { paths: string[]; packages: string[]; runtime?: boolean },
): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (file: string, chain: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of moduleSpecifiers(readFileSync(file, 'utf8'), forbidden)) {
      const here = [...chain, relative(repo, file)];
      if (forbidden.packages.some((p) => spec === p || spec.startsWith(`${p}/`))) {
        found.push([...here, spec].join(' -> '));
        continue;
      }
      if (!spec.startsWith('.')) continue;
      const target = resolveLocal(file, spec);
      if (!target) continue;
      if (forbidden.paths.some((d) => target === d || target.startsWith(`${d}/`))) {
        found.push([...here, relative(repo, target)].join(' -> '));
        continue;
      }
      walk(target, here);
    }
  };
  walk(entry, []);
  return found;
}
