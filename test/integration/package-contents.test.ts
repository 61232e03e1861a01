import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

// What `npm pack` ships (test.sh builds dist/ before the tests run): stack
// traces must land in shipped files, the README must not point at files the
// package lacks, and the maintainers' notes stay out.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let files: Set<string>;

beforeAll(() => {
  const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: repo,
    encoding: 'utf8',
  });
  expect(result.status, result.stderr).toBe(0);
  const [info] = JSON.parse(result.stdout) as [{ files: { path: string }[] }];
  files = new Set(info.files.map((f) => f.path));
}, 120_000);

describe('the packed package', () => {
  it('ships the source every source map names, and embeds it too', () => {
    const maps = [...files].filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(20);
    for (const map of maps) {
      const json = JSON.parse(readFileSync(join(repo, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      for (const source of json.sources) {
        const shipped = normalize(join(dirname(map), source));
        expect(files.has(shipped), `${map} names ${shipped}, which the package does not ship`).toBe(
          true,
        );
      }
      expect(
        json.sourcesContent?.every((c) => typeof c === 'string'),
        map,
      ).toBe(true);
    }
  });

  it('ships the seed schemas and the user docs, not the maintainers notes', () => {
    expect(files.has('schema/redis-seed.schema.json')).toBe(true);
    expect(files.has('schema/memcached-seed.schema.json')).toBe(true);
    expect(files.has('docs/seeds.md')).toBe(true);
    expect(files.has('CONTRIBUTING.md')).toBe(false);
  });

  it('has no link in README.md or docs/ to a file the package does not ship', () => {
    const docs = ['README.md', ...[...files].filter((f) => /^docs\/.*\.md$/.test(f))];
    for (const doc of docs) {
      const text = readFileSync(join(repo, doc), 'utf8');
      for (const match of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = match[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue;
        const path = normalize(join(dirname(doc), target));
        expect(files.has(path), `${doc} links ${target}, which the package does not ship`).toBe(
          true,
        );
      }
      expect(text, doc).not.toMatch(/npm run (cluster|test|demo)/);
    }
  });

  it('states one minimum Node version everywhere', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe('>=22.19');
    expect(readFileSync(join(repo, 'README.md'), 'utf8')).toContain('Node 22.19 or later');
    expect(readFileSync(join(repo, 'src/runner/node-version.ts'), 'utf8')).toContain(
      "MIN_NODE = '22.19.0'",
    );
  });
});

describe('an older Node', () => {
  it('gets UNSUPPORTED_NODE before the Kubernetes client breaks', () => {
    // The machine's own Node 20, when there is one (the project's tools use Node 24).
    const node20 = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' });
    expect(node20.status, 'this test needs /usr/bin/node (Node 20 on this machine kind)').toBe(0);
    expect(node20.stdout.trim()).toMatch(/^v(1\d|20|21|22\.(1[0-8]|\d))\./);
    const result = spawnSync(
      '/usr/bin/node',
      [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(join(repo, 'dist/vitest/global-setup.js'))})`,
      ],
      { cwd: repo, encoding: 'utf8' },
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('[UNSUPPORTED_NODE] kubecache needs Node 22.19.0 or later');
    expect(result.stderr).not.toContain("reading 'bind'");
  });
});
