// Packs kubecache and installs the tarball into throwaway npm projects, as a
// user gets it. The consumer projects (test/consumers/run.mjs), the doc
// projects (test/docs/run.mjs) and the suite benchmark (test/bench/suite.mjs)
// all do this; one copy keeps their npm flags and their skip-when-unchanged
// stamp from drifting apart.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Packs the repository as it is (dist/ is not rebuilt here); returns the
 * tarball's path inside a fresh temp dir.
 */
export function packTarball() {
  const dest = mkdtempSync(join(tmpdir(), 'kubecache-pack-'));
  return new Promise((resolvePromise, reject) => {
    const child = spawn('npm', ['pack', '--json', '--pack-destination', dest], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`npm pack exited with ${code}`));
      const [info] = JSON.parse(out);
      resolvePromise(join(dest, info.filename));
    });
  });
}

/**
 * Runs `npm install` of `packages` (the tarball among them) in `dir`, without
 * touching a package.json or lock file there, unless `stampFile` already
 * holds `stamp` from an earlier install; writes `stamp` after a successful
 * one. `run(cmd, args, opts)` runs npm the caller's way (output passed
 * through or kept, a time limit) and resolves to { code, text }: `text` is
 * the kept output, put into the error, or undefined when it was passed
 * through. Resolves to the seconds the install took ("12.3"), or undefined
 * when it was skipped.
 */
export async function installUnlessStamped({ dir, packages, stampFile, stamp, run }) {
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return undefined;
  const t0 = Date.now();
  const { code, text } = await run(
    'npm',
    [
      'install',
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...packages,
    ],
    { cwd: dir },
  );
  if (code !== 0) {
    throw new Error(
      text === undefined
        ? `npm install in ${dir} exited with ${code}`
        : `npm install in ${dir} failed:\n${text}`,
    );
  }
  writeFileSync(stampFile, stamp);
  return ((Date.now() - t0) / 1000).toFixed(1);
}
