// Builds dist/ the way the packed package needs it: the ES module build
// (tsconfig.build.json), the CommonJS build of the worker-side entry points
// that Jest's CommonJS workers require (tsconfig.cjs.json, into dist/cjs),
// the package.json that makes Node read dist/cjs as CommonJS, and the bundle
// of @kubernetes/client-node that replaces dist/kube/client-node.js (see
// src/kube/client-node.ts for why).
//
//   sh test/tools/with-node.sh node test/consumers/build-dist.mjs
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function buildDist() {
  // From scratch: files of moved or deleted sources would otherwise stay in
  // dist/ and ship in the tarball, with source maps naming missing files.
  rmSync(join(repo, 'dist'), { recursive: true, force: true });
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const config of ['tsconfig.build.json', 'tsconfig.cjs.json']) {
    execFileSync(process.execPath, [tsc, '-p', config], { cwd: repo, stdio: 'inherit' });
  }
  writeFileSync(join(repo, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
  bundleClientNode();
}

/**
 * Replaces tsc's dist/kube/client-node.js (re-exports from the package) with
 * one minified ES module holding client-node and everything it imports, and
 * writes the bundled packages' licence texts beside it. The declarations
 * (client-node.d.ts) stay: types still come from the installed package.
 */
function bundleClientNode() {
  const out = join(repo, 'dist', 'kube', 'client-node.js');
  const result = buildSync({
    // Paths in the metafile are relative to this, whatever the caller's cwd.
    absWorkingDir: repo,
    entryPoints: [join(repo, 'src', 'kube', 'client-node.ts')],
    outfile: out,
    allowOverwrite: true,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
    // Bundled CommonJS dependencies (ws, js-yaml, tar-fs) call require() for
    // Node's own modules, which an ES module does not have.
    banner: {
      js: [
        "// @kubernetes/client-node and its dependencies, bundled by kubecache's build; licences in client-node.licenses.txt.",
        "import { createRequire as __kubecacheRequire } from 'node:module';",
        'const require = __kubecacheRequire(import.meta.url);',
      ].join('\n'),
    },
  });
  rmSync(`${out}.map`, { force: true });
  writeFileSync(join(dirname(out), 'client-node.licenses.txt'), licenses(result.metafile));
}

/** Name, version, licence and licence text of every package the bundle holds. */
function licenses(metafile) {
  const roots = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (m) roots.add(m[1]);
  }
  const sections = [...roots].sort().map((root) => {
    const dir = resolve(repo, root);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
    const text = file
      ? readFileSync(join(dir, file), 'utf8').trim()
      : '(no licence file in the package)';
    return `${pkg.name} ${pkg.version} (${pkg.license ?? 'licence not stated'}, ${relative(repo, dir)})\n\n${text}\n`;
  });
  if (!sections.some((s) => s.startsWith('@kubernetes/client-node '))) {
    throw new Error(
      'the client-node bundle holds no @kubernetes/client-node: is it installed (npm ci)?',
    );
  }
  return sections.join(`\n${'='.repeat(78)}\n\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildDist();
