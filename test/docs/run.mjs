// Runs the code blocks of the user docs (README.md and docs/*.md) the way a
// user would: each doc becomes one fresh project with the packed kubecache
// tarball installed, its blocks are written as files in order, and every
// block that holds something runnable is run against the dev cluster.
//
//   sh test/tools/with-node.sh node test/docs/run.mjs              every doc
//   sh test/tools/with-node.sh node test/docs/run.mjs docs/jest.md one doc
//   ... run.mjs --list                                              blocks and what each does
//
// Conventions in the docs (HTML comments, invisible when rendered):
//   <!-- doc-test: skip REASON -->     before a block: not run; printed with its reason.
//   <!-- doc-test: file PATH -->       before a block: its whole text is the file PATH.
//   <!-- doc-test: dir NAME TYPE -->   before a block: its files go to the subdirectory
//                                      NAME, a package of "type" TYPE (module/commonjs).
//   <!-- doc-test: project DEP... -->  anywhere in a doc: extra packages its project needs
//                                      (from the list in DEPENDENCIES below).
// Otherwise a js/ts block names its files with `// path` lines, each starting
// a file, and a sh block is run as written in the doc's project (with its
// node_modules/.bin on PATH, so `npx kubecache ...` is the packed CLI). A block that is neither marked nor runnable fails the run: every
// example a user would copy is either run or says why not. `text` blocks are
// program output, not code.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installUnlessStamped, packTarball } from '../tools/packed-install.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
// Outside the repository, so nothing of kubecache's own (its tsconfig.json,
// package.json) is found by tools walking up from a doc project; one
// directory per checkout, so two checkouts on a machine do not collide.
const PROJECTS = join(
  tmpdir(),
  `kubecache-doc-tests-${createHash('sha256').update(repo).digest('hex').slice(0, 8)}`,
);
const RUN_LIMIT_MS = 240_000;

/** The packages a doc's project installs: the defaults plus its project markers'. */
function depsOf(projectDeps) {
  return [...new Set([...DEFAULT_DEPS, ...projectDeps.filter((d) => d !== 'commonjs')])].sort();
}

/** Versions of what doc projects may install; the same ones the consumer projects use. */
export const DEPENDENCIES = {
  vitest: '~5.1.1',
  typescript: '~5.9.2',
  '@types/node': '^24.0.0',
  jest: '~30.5.2',
  'jest-environment-jsdom': '~30.5.2',
  'ts-jest': '^29.4.0',
  // The redis/valkey clients, optional peer dependencies users install.
  ioredis: '^5.6.1',
  redis: '^6.3.1',
};
// ioredis: the default redis/valkey client, an optional peer dependency users install.
const DEFAULT_DEPS = ['vitest', 'typescript', '@types/node', 'ioredis'];

const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs', 'json', 'jsonc']);
const OUTPUT_LANGS = new Set(['text', 'console', 'output']);
const SHELL_LANGS = new Set(['sh', 'bash', 'shell']);

/** Splits markdown into fenced blocks with their line, language and doc-test markers. */
export function parseDoc(text) {
  const lines = text.split('\n');
  const blocks = [];
  const projectDeps = [];
  let markers = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const marker = /^<!--\s*doc-test:\s*(\w[\w-]*)\s*(.*?)\s*-->\s*$/.exec(line.trim());
    if (marker) {
      if (marker[1] === 'project')
        projectDeps.push(...(marker[2] ?? '').split(/\s+/).filter(Boolean));
      else markers.push({ kind: marker[1], arg: marker[2] ?? '' });
      continue;
    }
    const fence = /^(\s*)(```+|~~~+)\s*([\w+-]*)/.exec(line);
    if (!fence) {
      if (line.trim() !== '') markers = [];
      continue;
    }
    const close = fence[2] ?? '```';
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !(lines[j] ?? '').trim().startsWith(close); j++) {
      body.push((lines[j] ?? '').slice((fence[1] ?? '').length));
    }
    blocks.push({
      line: i + 1,
      lang: (fence[3] ?? '').toLowerCase(),
      text: body.join('\n'),
      markers,
    });
    markers = [];
    i = j;
  }
  return { blocks, projectDeps };
}

/** The files a block stands for, or the reason it cannot run. */
export function blockFiles(block) {
  const fileMarker = block.markers.find((m) => m.kind === 'file');
  if (fileMarker) return { files: [{ path: fileMarker.arg, text: `${block.text}\n` }] };
  // Shell blocks are commands a user types in the project: run as written.
  if (SHELL_LANGS.has(block.lang)) return { script: block.text };
  if (!CODE_LANGS.has(block.lang)) {
    return {
      error: `a ${block.lang || 'plain'} block; name its file with <!-- doc-test: file PATH --> or mark it <!-- doc-test: skip REASON -->`,
    };
  }
  const files = [];
  let current;
  for (const line of block.text.split('\n')) {
    const name = /^\/\/ ([\w./@-]+\.(?:[cm]?[jt]s|json))$/.exec(line.trim());
    if (name?.[1]) {
      current = { path: name[1], lines: [] };
      files.push(current);
    } else if (current) current.lines.push(line);
    else if (line.trim() !== '') {
      return {
        error:
          'code before the first `// file` line: start the block with `// path/to/file.ts`, or mark it <!-- doc-test: skip REASON -->',
      };
    }
  }
  if (files.length === 0) return { error: 'an empty block' };
  return { files: files.map((f) => ({ path: f.path, text: `${f.lines.join('\n').trim()}\n` })) };
}

const isTestFile = (path) => /\.(test|spec)\.[cm]?[jt]s$/.test(path);
const RUNNER_CONFIGS = {
  vitest: ['vitest.config.ts', 'vitest.config.mts', 'vitest.config.js', 'vitest.config.mjs'],
  jest: ['jest.config.js', 'jest.config.cjs', 'jest.config.mjs', 'jest.config.ts'],
};

function runnerOf(dir) {
  for (const [runner, names] of Object.entries(RUNNER_CONFIGS)) {
    if (names.some((n) => existsSync(join(dir, n)))) return runner;
  }
  return undefined;
}

function testFilesIn(dir, base = dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    // A subdirectory with its own package.json is another project (a dir marker).
    if (entry.isDirectory() && existsSync(join(path, 'package.json'))) continue;
    if (entry.isDirectory()) testFilesIn(path, base, out);
    else if (isTestFile(entry.name)) out.push(relative(base, path));
  }
  return out;
}

/** The command that runs what a block wrote, or undefined when it only adds files. */
function commandFor(projectDir, dir, written) {
  const runner = runnerOf(dir);
  const tests = written.filter(isTestFile);
  const configOnly = written.some((p) =>
    /(^|\/)(vitest|jest|kubecache)\.config\.[cm]?[jt]s(on)?$/.test(p),
  );
  const targets = tests.length > 0 ? tests : configOnly ? testFilesIn(dir) : [];
  if (targets.length === 0) return undefined;
  const bin = (...p) => join(projectDir, 'node_modules', ...p);
  if (runner === 'vitest') {
    return {
      cmd: [bin('vitest', 'vitest.mjs'), 'run', ...targets],
      label: `vitest run ${targets.join(' ')}`,
    };
  }
  if (runner === 'jest') {
    return { cmd: [bin('jest', 'bin', 'jest.js'), ...targets], label: `jest ${targets.join(' ')}` };
  }
  return { cmd: ['--test', ...targets], label: `node --test ${targets.join(' ')}` };
}

function sha(text) {
  return createHash('sha256').update(text).digest('hex');
}

function run(cmd, args, opts) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
    });
    child.stderr.on('data', (d) => {
      text += d;
    });
    const timer = setTimeout(() => {
      text += `\n[doc-test] killed after ${RUN_LIMIT_MS / 1000} s\n`;
      child.kill('SIGKILL');
    }, RUN_LIMIT_MS);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), text });
    });
  });
}

/**
 * Installs the tarball and a set of dependencies into PROJECTS/deps-<hash>/,
 * skipped when nothing changed. Docs with the same dependencies share it:
 * their projects are its subdirectories, which resolve packages upwards.
 */
async function install(tarball, deps, log) {
  const dir = join(PROJECTS, `deps-${sha(deps.join(' ')).slice(0, 10)}`);
  const type = 'module';
  const unknown = deps.filter((d) => !(d in DEPENDENCIES));
  if (unknown.length > 0)
    throw new Error(`unknown doc-test project dependencies: ${unknown.join(', ')}`);
  const devDependencies = Object.fromEntries(deps.map((d) => [d, DEPENDENCIES[d]]));
  const pkg = {
    name: `kubecache-doc-${sha(dir).slice(0, 8)}`,
    private: true,
    type,
    devDependencies,
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const stampFile = join(dir, 'node_modules', '.doc-test-install.json');
  const stamp = JSON.stringify({ tarball: sha(readFileSync(tarball)), pkg });
  // run() keeps the output for the error and kills npm after RUN_LIMIT_MS.
  const seconds = await installUnlessStamped({ dir, packages: [tarball], stampFile, stamp, run });
  if (seconds !== undefined) log(`installed ${deps.join(', ')} in ${seconds} s`);
  return dir;
}

function docEnv(namespace, extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      k.startsWith('KUBECACHE_') ||
      k.startsWith('VITEST') ||
      k === 'JEST_WORKER_ID' ||
      k === 'NODE_OPTIONS'
    )
      continue;
    env[k] = v;
  }
  return {
    ...env,
    CI: 'true',
    FORCE_COLOR: '0',
    // test.sh names the running instance's kubeconfig; the fallback is the
    // default instance, for running this script by hand.
    KUBECONFIG:
      process.env.KUBECACHE_DOCS_KUBECONFIG ??
      process.env.KUBECACHE_TEST_KUBECONFIG ??
      join(repo, '.kubecache-dev', 'admin.kubeconfig'),
    KUBECACHE_NAMESPACE: namespace,
    ...extra,
  };
}

/** Type-checks a doc project's TypeScript, as an editor would show it to the user. */
async function typecheck(dir, depsDir) {
  const tsFiles = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'node_modules') continue;
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.[cm]?ts$/.test(e.name) && !e.name.endsWith('.d.ts'))
        tsFiles.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  if (tsFiles.length === 0) return undefined;
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      allowImportingTsExtensions: true,
      types: ['node'],
    },
    include: tsFiles,
  };
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  return run(
    process.execPath,
    [join(depsDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
    { cwd: dir },
  );
}

function validateJson(path, text, failures, where) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    failures.push(`${where}: ${path} is not valid JSON: ${err.message}`);
    return;
  }
  return value;
}

/**
 * Runs one doc. Returns { name, problems, ran, skipped } and prints each
 * block's outcome as it goes.
 */
export async function runDoc(docPath, { tarball, cluster, log = console.log }) {
  const name = relative(repo, docPath);
  const { blocks, projectDeps } = parseDoc(readFileSync(docPath, 'utf8'));
  const slug = name
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase()
    .replace(/^-|-$/g, '');
  const namespace = `kc-docs-${slug}`.slice(0, 63).replace(/-$/, '');
  const problems = [];
  const report = { name, problems, ran: 0, skipped: [], output: [] };
  const say = (msg) => log(`[docs] ${name}: ${msg}`);

  const toRun = blocks.filter(
    (b) => !OUTPUT_LANGS.has(b.lang) && !b.markers.some((m) => m.kind === 'skip'),
  );
  if (toRun.length === 0) {
    // Nothing to install or run: only list what is skipped and why.
    for (const block of blocks) {
      const skip = block.markers.find((m) => m.kind === 'skip');
      if (!skip) continue;
      const where = `${name}:${block.line}`;
      if (!skip.arg.trim()) problems.push(`${where}: a skip marker needs a reason`);
      report.skipped.push({ where, reason: skip.arg.trim() });
      say(`line ${block.line} (${block.lang}) SKIPPED: ${skip.arg.trim()}`);
    }
    return report;
  }
  // "commonjs" in a project marker makes the doc's project CommonJS, as most Jest projects are.
  const type = projectDeps.includes('commonjs') ? 'commonjs' : 'module';
  const depsDir = await install(tarball, depsOf(projectDeps), say);
  // A fresh project each time: the doc's own directory under the shared install.
  const projectDir = join(depsDir, slug);
  rmSync(projectDir, { recursive: true, force: true });
  mkdirSync(projectDir, { recursive: true });
  writeFileSync(
    join(projectDir, 'package.json'),
    `${JSON.stringify({ private: true, type }, null, 2)}\n`,
  );
  await cluster.ensureNamespace(namespace);
  try {
    for (const block of blocks) {
      const where = `${name}:${block.line}`;
      if (OUTPUT_LANGS.has(block.lang)) continue;
      const skip = block.markers.find((m) => m.kind === 'skip');
      if (skip) {
        const reason = skip.arg.trim();
        if (!reason) problems.push(`${where}: a skip marker needs a reason`);
        report.skipped.push({ where, reason });
        say(`line ${block.line} (${block.lang}) SKIPPED: ${reason}`);
        continue;
      }
      const parsed = blockFiles(block);
      if (parsed.error) {
        problems.push(`${where}: cannot run this block: ${parsed.error}`);
        say(`line ${block.line} FAILED: ${parsed.error}`);
        continue;
      }
      if (parsed.script !== undefined) {
        const t0 = Date.now();
        const env = docEnv(namespace, {
          PATH: `${join(depsDir, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
        });
        const result = await run('sh', ['-e', '-c', parsed.script], { cwd: projectDir, env });
        const seconds = ((Date.now() - t0) / 1000).toFixed(1);
        report.ran += 1;
        const label = parsed.script.split('\n')[0];
        if (result.code !== 0) {
          problems.push(`${where}: \`${label}\` exited with ${result.code}`);
          say(
            `line ${block.line} FAILED in ${seconds} s: ${label}\n${indent(tail(result.text, 60))}`,
          );
        } else say(`line ${block.line} passed in ${seconds} s: ${label}`);
        continue;
      }
      const dirMarker = block.markers.find((m) => m.kind === 'dir');
      let dir = projectDir;
      if (dirMarker) {
        const [sub, type = 'module'] = dirMarker.arg.split(/\s+/);
        dir = join(projectDir, sub ?? 'app');
        mkdirSync(dir, { recursive: true });
        writeFileSync(
          join(dir, 'package.json'),
          `${JSON.stringify({ private: true, type }, null, 2)}\n`,
        );
      }
      const written = [];
      for (const file of parsed.files) {
        const target = join(dir, file.path);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, file.text);
        written.push(file.path);
        if (file.path.endsWith('.json')) {
          const value = validateJson(file.path, file.text, problems, where);
          if (value && typeof value.$schema === 'string' && cluster.validateSeed) {
            const errors = cluster.validateSeed(value);
            if (errors)
              problems.push(`${where}: ${file.path} does not match ${value.$schema}: ${errors}`);
          }
        }
      }
      const command = commandFor(depsDir, dir, written);
      if (!command) {
        say(`line ${block.line}: wrote ${written.join(', ')}`);
        continue;
      }
      const t0 = Date.now();
      const result = await run(process.execPath, command.cmd, {
        cwd: dir,
        env: docEnv(namespace, {}),
      });
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      report.ran += 1;
      const label = `${relative(projectDir, dir) || '.'}$ ${command.label}`;
      if (result.code !== 0) {
        problems.push(`${where}: \`${label}\` exited with ${result.code}`);
        say(
          `line ${block.line} FAILED in ${seconds} s: ${label}\n${indent(tail(result.text, 80))}`,
        );
      } else {
        say(`line ${block.line} passed in ${seconds} s: ${label}`);
      }
      report.output.push({ where, text: result.text });
    }
    const tsc = await typecheck(projectDir, depsDir);
    if (tsc && tsc.code !== 0) {
      problems.push(`${name}: the TypeScript examples do not type-check`);
      say(`tsc --noEmit FAILED\n${indent(tail(tsc.text, 60))}`);
    } else if (tsc) say('tsc --noEmit passed');
    const { undeleted, left } = await cluster.leftoverPods(namespace);
    if (undeleted.length > 0)
      problems.push(
        `${name}: ${undeleted.length} kubecache pod(s) not deleted: ${undeleted.join(', ')}`,
      );
    if (left.length > 0)
      problems.push(`${name}: ${left.length} kubecache pod(s) left: ${left.join(', ')}`);
  } finally {
    await cluster.deleteNamespace(namespace);
  }
  return report;
}

function tail(text, n) {
  return text.split('\n').slice(-n).join('\n');
}

function indent(text) {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

export function userDocs() {
  const docs = readdirSync(join(repo, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join(repo, 'docs', f));
  return [join(repo, 'README.md'), ...docs];
}

async function clusterHelpers() {
  const support = await import('../support/cluster.ts');
  const { leftoverPods } = await import('../consumers/run.mjs');
  const { default: Ajv } = await import('ajv');
  const ajv = new Ajv({ allErrors: true, strict: false });
  const schemas = {};
  for (const f of readdirSync(join(repo, 'schema'))) {
    schemas[f] = ajv.compile(JSON.parse(readFileSync(join(repo, 'schema', f), 'utf8')));
  }
  return {
    ensureNamespace: support.ensureNamespace,
    deleteNamespace: support.deleteNamespace,
    leftoverPods,
    validateSeed(value) {
      const file = String(value.$schema).split('/').pop();
      const validate = schemas[file];
      if (!validate) return `no schema ${file} in the package's schema/ directory`;
      return validate(value) ? undefined : ajv.errorsText(validate.errors);
    },
  };
}

async function main(argv) {
  const list = argv.includes('--list');
  const names = argv.filter((a) => !a.startsWith('--'));
  const docs = names.length > 0 ? names.map((n) => resolve(n)) : userDocs();
  if (list) {
    for (const doc of docs) {
      for (const block of parseDoc(readFileSync(doc, 'utf8')).blocks) {
        const skip = block.markers.find((m) => m.kind === 'skip');
        const parsed = skip ? undefined : blockFiles(block);
        console.log(
          `${relative(repo, doc)}:${block.line} ${block.lang || '(none)'} ${
            OUTPUT_LANGS.has(block.lang)
              ? 'output'
              : skip
                ? `skip: ${skip.arg}`
                : parsed?.error
                  ? `CANNOT RUN: ${parsed.error}`
                  : parsed.script !== undefined
                    ? `sh: ${parsed.script.split('\n')[0]}`
                    : parsed.files.map((f) => f.path).join(', ')
          }`,
        );
      }
    }
    return 0;
  }
  // --no-build: pack the dist/ that is there (test/integration/doc-tests.test.ts
  // runs while other tests use dist/, which a rebuild would rewrite under them).
  const tarball = argv.includes('--no-build')
    ? await packTarball()
    : await (await import('../consumers/run.mjs')).pack();
  const cluster = await clusterHelpers();
  const reports = [];
  const t0 = Date.now();
  try {
    // Installs first, one at a time (docs with the same dependencies share
    // one), then the docs two at a time: the machine has two cores.
    for (const doc of docs) {
      const deps = depsOf(parseDoc(readFileSync(doc, 'utf8')).projectDeps);
      await install(tarball, deps, (m) => console.log(`[docs] ${relative(repo, doc)}: ${m}`));
    }
    const queue = [...docs];
    const results = new Map();
    const worker = async () => {
      for (let doc = queue.shift(); doc !== undefined; doc = queue.shift()) {
        try {
          results.set(doc, await runDoc(doc, { tarball, cluster }));
        } catch (err) {
          results.set(doc, {
            name: relative(repo, doc),
            problems: [String(err?.stack ?? err)],
            ran: 0,
            skipped: [],
          });
        }
      }
    };
    await Promise.all([worker(), worker()]);
    for (const doc of docs) reports.push(results.get(doc));
  } finally {
    rmSync(dirname(tarball), { recursive: true, force: true });
  }
  console.log('[docs] summary:');
  for (const r of reports) {
    console.log(
      `[docs]   ${r.name.padEnd(24)} ${r.problems.length === 0 ? 'passed' : 'FAILED'}  ${r.ran} run(s), ${r.skipped.length} skipped block(s)`,
    );
    for (const s of r.skipped) console.log(`[docs]     skipped ${s.where}: ${s.reason}`);
    for (const p of r.problems) console.log(`[docs]     ${p}`);
  }
  const failed = reports.filter((r) => r.problems.length > 0).length;
  console.log(
    `docs: ${reports.length - failed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
