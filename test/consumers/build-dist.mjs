// Builds dist/ the way the packed package needs it: the ES module build
// (tsconfig.build.json), the CommonJS build of the worker-side entry points
// that Jest's CommonJS workers require (tsconfig.cjs.json, into dist/cjs),
// and the package.json that makes Node read dist/cjs as CommonJS.
//
//   sh test/tools/with-node.sh node test/consumers/build-dist.mjs
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildDist();
