// Suite benchmark (issue 11): what a user feels is how much longer the whole
// suite takes. One generated suite of N test files (each with a seeded redis
// and a seeded memcached, reset before every test) runs, in one invocation,
// three ways, for Vitest and for Jest 30, rounds interleaved:
//   - local: redis-server and memcached processes on this machine, the same
//     Debian package versions the dev cluster's images are built from,
//     started by this script (one pair per worker) inside the timed span;
//   - kubecache cold: fresh pods every run (prestart on);
//   - kubecache warm: reuse on, pods kept from the previous run by the
//     kubecache daemon (whose CPU counts with the runner's).
// Jest always starts its 4 workers (see forgetJestTimings).
// Wall time is the runner's whole process (start to exit), median/min/max
// over the rounds, and the ratio of the medians to local. CPU time is
// counted too, because on a small machine it bounds the wall time: the
// machine's busy CPU seconds during each run (/proc/stat: the runner, its
// workers, the local servers, and the dev cluster's API server, kubelet,
// containerd and pods, which all run here) and the part spent by this
// benchmark's own child processes (the runner and its workers, the local
// servers). Run it on an otherwise idle machine.
//
// With --split-cores (split-cores.mjs) the benchmark and everything it starts
// get one core and the dev cluster the others: the cluster's CPU then no
// longer comes out of the runner's, as when the cluster runs elsewhere.
//
//   usage: node test/bench/suite.mjs [--files 8] [--workers 4] [--tests 25] [--rounds 3]
//                                    [--runners vitest,jest] [--modes local,cold,warm]
//                                    [--split-cores]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pack } from '../consumers/run.mjs';
import { installUnlessStamped } from '../tools/packed-install.mjs';
import { kubeconfig, kubectl, median, repo, useBenchNamespace } from './common.mjs';
import { splitCores } from './split-cores.mjs';

const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const FILES = Number(opt('files', 8));
const WORKERS = Number(opt('workers', 4));
const TESTS = Number(opt('tests', 25));
const ROUNDS = Number(opt('rounds', 3));
const RUNNERS = String(opt('runners', 'vitest,jest')).split(',');
const NAMESPACE = 'kc-bench-suite';
const MODES = String(opt('modes', 'local,cold,warm')).split(',');
const SPLIT = process.argv.includes('--split-cores');
// Read before a split narrows this process to one core.
const cores = availableParallelism();

const dir = join(
  process.env.KUBECACHE_CACHE_DIR ?? join(homedir(), '.cache/kubecache'),
  'bench-suite',
);
const repoPkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const vitestVersion = JSON.parse(
  readFileSync(join(repo, 'node_modules/vitest/package.json'), 'utf8'),
).version;

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/** Installs the packed kubecache, Vitest and Jest 30 once; reinstalls when the tarball changes. */
async function install() {
  const tarball = await pack();
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'kubecache-bench-suite', private: true }, null, 2)}\n`,
  );
  const stampFile = join(dir, 'node_modules', '.bench-stamp');
  const stamp = createHash('sha256')
    .update(readFileSync(tarball))
    .update(vitestVersion)
    .update('ioredis')
    .digest('hex');
  const seconds = await installUnlessStamped({
    dir,
    packages: [
      tarball,
      `vitest@${vitestVersion}`,
      'jest@~30.5.2',
      `jest-environment-node@${repoPkg.devDependencies['jest-environment-node']}`,
      // An optional peer dependency of kubecache, so npm does not add it.
      `ioredis@${repoPkg.devDependencies.ioredis ?? repoPkg.peerDependencies.ioredis}`,
    ],
    stampFile,
    stamp,
    // Output kept for the error.
    run: async (cmd, args, opts) => {
      const { code, out } = await run(cmd, args, opts);
      return { code, text: out };
    },
  });
  if (seconds !== undefined) console.log(`[suite] installed in ${seconds} s`);
}

// One test body for every variant: reads the seed, writes, and relies on the
// reset before each test (a key written by the previous test must be gone).
const testBody = (t) => `
  it('test ${t}', async () => {
    expect(await redis.client.get('string:1')).toBe('hello ada');
    expect(await redis.client.get('written')).toBeNull();
    await redis.client.set('written', '${t}');
    await redis.client.incr('counter');
    const hit = await memcached.client.get('written');
    expect(hit.value).toBeNull();
    await memcached.client.set('written', '${t}', {});
    expect((await memcached.client.get('written')).value.toString()).toBe('${t}');
  });`;

function testFile(i, { esm, local }) {
  const imports = esm
    ? `import { describe, expect, it } from 'vitest';\nimport { useCache } from '${local ? '../local-cache.mjs' : 'kubecache/vitest'}';`
    : `const { useCache } = require('${local ? '../local-cache.cjs' : 'kubecache/jest'}');`;
  const tests = Array.from({ length: TESTS }, (_, t) => testBody(t)).join('\n');
  return `${imports}

const redis = useCache('redis');
const memcached = useCache('memcached');

describe('file ${i}', () => {${tests}
});
`;
}

// The local baseline does what kubecache's worker side does, against local
// processes: seed from the same JSON (with kubecache's own seed code), and
// before each test empty the cache and write the seed again (FLUSHALL for
// redis, flush_all for memcached). That is kubecache's reset for a JSON seed:
// it restarts the seed's TTLs, which a DEBUG RELOAD of a saved dump would not.
const localCache = (esm) => {
  const dist = esm ? 'node_modules/kubecache/dist' : 'node_modules/kubecache/dist/cjs';
  const head = esm
    ? `import { afterAll, beforeAll, beforeEach } from 'vitest';
import { Redis } from 'ioredis';
import memjs from 'memjs';
import { applyRedisJsonSeed, parseRedisJsonSeed } from '${join(dir, dist, 'engines/redis/seed.js')}';
import { ioredisCommander } from '${join(dir, dist, 'engines/redis/commander.js')}';
import { applyMemcachedJsonSeed, parseMemcachedJsonSeed } from '${join(dir, dist, 'engines/memcached/seed.js')}';
import { loadJsonSeedFile } from '${join(dir, dist, 'seed/json-fixture.js')}';
const worker = Number(process.env.VITEST_POOL_ID ?? 1);
export `
    : `const { Redis } = require('ioredis');
const memjs = require('memjs');
const { applyRedisJsonSeed, parseRedisJsonSeed } = require('${join(dir, dist, 'engines/redis/seed.js')}');
const { ioredisCommander } = require('${join(dir, dist, 'engines/redis/commander.js')}');
const { applyMemcachedJsonSeed, parseMemcachedJsonSeed } = require('${join(dir, dist, 'engines/memcached/seed.js')}');
const { loadJsonSeedFile } = require('${join(dir, dist, 'seed/json-fixture.js')}');
const worker = Number(process.env.JEST_WORKER_ID ?? 1);
module.exports.useCache = `;
  return `${head}function useCache(engine) {
  const ports = process.env[engine === 'redis' ? 'LOCAL_REDIS_PORTS' : 'LOCAL_MEMCACHED_PORTS'].split(',');
  const port = Number(ports[(worker - 1) % ports.length]);
  const seedFile = '${join(dir, 'fixtures')}/' + (engine === 'redis' ? 'basic.json' : 'memcached.json');
  const slot = { client: undefined };
  let seed;
  const applySeed = async () => {
    if (engine === 'redis') await applyRedisJsonSeed(ioredisCommander(slot.client), seed);
    else await applyMemcachedJsonSeed(slot.client, seed);
  };
  beforeAll(async () => {
    seed = await loadJsonSeedFile(seedFile, engine === 'redis' ? parseRedisJsonSeed : parseMemcachedJsonSeed);
    if (engine === 'redis') {
      slot.client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
      await slot.client.connect();
      await slot.client.flushall();
    } else {
      slot.client = memjs.Client.create('127.0.0.1:' + port, { logger: { log() {} } });
      await slot.client.flush();
    }
    await applySeed();
  });
  beforeEach(async () => {
    if (engine === 'redis') await slot.client.flushall();
    else await slot.client.flush();
    await applySeed();
  });
  afterAll(async () => {
    if (engine === 'redis') await slot.client.quit();
    else slot.client.close();
  });
  return slot;
}
`;
};

function generate() {
  mkdirSync(join(dir, 'fixtures'), { recursive: true });
  for (const f of ['basic.json', 'memcached.json'])
    copyFileSync(join(repo, 'test/fixtures', f), join(dir, 'fixtures', f));
  for (const runner of ['vitest', 'jest']) {
    for (const local of [false, true]) {
      const sub = join(dir, `${runner}-${local ? 'local' : 'kubecache'}`);
      rmSync(sub, { recursive: true, force: true });
      mkdirSync(sub, { recursive: true });
      const esm = runner === 'vitest';
      for (let i = 1; i <= FILES; i++) {
        writeFileSync(join(sub, `f${i}.test.${esm ? 'mjs' : 'cjs'}`), testFile(i, { esm, local }));
      }
    }
  }
  writeFileSync(join(dir, 'local-cache.mjs'), localCache(true));
  writeFileSync(join(dir, 'local-cache.cjs'), localCache(false));
  const prestart = { redis: 'workers', memcached: 'workers' };
  writeFileSync(
    join(dir, 'kubecache.config.json'),
    `${JSON.stringify({ seeds: { redis: './fixtures/basic.json', memcached: './fixtures/memcached.json' }, prestart, endpoint: 'pod-ip' }, null, 2)}\n`,
  );
  writeFileSync(
    join(dir, 'vitest.config.mjs'),
    `import { defineConfig } from 'vitest/config';
const local = process.env.BENCH_MODE === 'local';
export default defineConfig({
  test: {
    include: [local ? 'vitest-local/*.test.mjs' : 'vitest-kubecache/*.test.mjs'],
    globalSetup: local ? [] : ['kubecache/vitest/global-setup'],
    maxWorkers: ${WORKERS},
    pool: 'forks',
    testTimeout: 60000,
    hookTimeout: 120000,
  },
});
`,
  );
  writeFileSync(
    join(dir, 'jest.config.cjs'),
    `const local = process.env.BENCH_MODE === 'local';
module.exports = {
  ...(local ? { testEnvironment: 'node' } : { preset: 'kubecache' }),
  testMatch: [local ? '<rootDir>/jest-local/*.test.cjs' : '<rootDir>/jest-kubecache/*.test.cjs'],
  injectGlobals: true,
  maxWorkers: ${WORKERS},
  testTimeout: 60000,
  cacheDirectory: '<rootDir>/node_modules/.cache/jest',
};
`,
  );
}

/** One redis-server and one memcached per worker, on loopback. */
async function startLocal() {
  const { startRedis, startMemcached } = await import('../unit/helpers/local-servers.ts');
  const work = join(tmpdir(), `kc-bench-suite-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const servers = await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      const d = join(work, String(w));
      mkdirSync(d, { recursive: true });
      return Promise.all([
        startRedis(['--dir', d, '--enable-debug-command', 'yes']),
        startMemcached(),
      ]);
    }),
  );
  return {
    env: {
      LOCAL_REDIS_PORTS: servers.map(([r]) => r.port).join(','),
      LOCAL_MEMCACHED_PORTS: servers.map(([, m]) => m.port).join(','),
    },
    stop: async () => {
      await Promise.all(servers.flat().map((s) => s.stop()));
      rmSync(work, { recursive: true, force: true });
    },
  };
}

function runnerArgs(runner) {
  if (runner === 'vitest')
    return [join(dir, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'vitest.config.mjs'];
  return [join(dir, 'node_modules/jest/bin/jest.js'), '--config', 'jest.config.cjs'];
}

function baseEnv(extra) {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('KUBECACHE_') || key.startsWith('VITEST') || key === 'JEST_WORKER_ID')
      delete env[key];
  }
  return {
    ...env,
    CI: 'true',
    NO_COLOR: '1',
    KUBECONFIG: kubeconfig,
    KUBECACHE_NAMESPACE: NAMESPACE,
    KUBECACHE_QUIET: '1',
    ...extra,
  };
}

/**
 * One timed suite run; returns the wall time in ms. A run that fails because
 * the shared dev cluster was briefly unwell (API server restarts, a CPU
 * starved node) is run again, at most twice, and said in the output.
 */
async function once(runner, mode) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await timed(runner, mode);
    } catch (err) {
      if (attempt > 2) throw err;
      const line = err.message.split('\n').find((l) => /Error/.test(l)) ?? 'see above';
      console.log(`[suite] ${runner} ${mode}: run failed (${line.trim()}); running again`);
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }
}

const TICK_S = 0.01; // USER_HZ: /proc counts CPU time in 1/100 s on Linux.

/** Busy CPU seconds of the whole machine since boot (all cores). */
function machineCpuS() {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = f.map(Number);
  return (user + nice + system + irq + softirq + (steal ?? 0)) * TICK_S;
}

/** CPU seconds of this process's children that have ended (the runner's tree, the local servers). */
function childrenCpuS() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of proc(5), cutime and cstime; f starts at field 3.
  return (Number(f[13]) + Number(f[14])) * TICK_S;
}

/** The kubecache daemons of the benchmark's project (warm runs): pids from their descriptor files. */
function daemonPids() {
  const cache = join(dir, 'node_modules', '.cache', 'kubecache');
  let names = [];
  try {
    names = readdirSync(cache).filter((n) => /^daemon-.*\.json$/.test(n));
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    try {
      return [JSON.parse(readFileSync(join(cache, n), 'utf8')).pid];
    } catch {
      return [];
    }
  });
}

/** CPU seconds a process has used so far (0 once it is gone). */
function processCpuS(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_S;
  } catch {
    return 0;
  }
}

/**
 * The daemons' CPU counts with the runner's: a daemon is detached from the
 * runner that started it, so it never shows in this process's children.
 */
function daemonsCpuS() {
  return daemonPids().reduce((sum, pid) => sum + processCpuS(pid), 0);
}

/** Stops the benchmark's daemons (SIGTERM: they park their pods) and waits for them to exit. */
async function stopDaemons() {
  const pids = daemonPids();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }
  for (let i = 0; i < 100 && pids.some((pid) => processCpuS(pid) > 0); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Jest runs a suite in one process, without its workers, when the previous
 * run timed every file under a second (its perf cache). The local files are
 * that fast on a quiet machine and kubecache's first file per worker often
 * is not, so each way got another scheduling depending on the run before:
 * the local baseline moved between 2.1 s in one process and 5 s with 4
 * workers. Without the timings Jest starts its workers, as the suite's
 * maxWorkers asks, for every way alike. (Transforms stay cached.)
 */
function forgetJestTimings() {
  const cache = join(dir, 'node_modules', '.cache', 'jest');
  let names = [];
  try {
    names = readdirSync(cache);
  } catch {
    return;
  }
  for (const name of names)
    if (name.startsWith('perf-cache-')) rmSync(join(cache, name), { force: true });
}

async function timed(runner, mode) {
  if (runner === 'jest') forgetJestTimings();
  const cpu0 = { machine: machineCpuS(), children: childrenCpuS() + daemonsCpuS() };
  const t0 = performance.now();
  const local = mode === 'local' ? await startLocal() : undefined;
  try {
    const env = baseEnv({
      BENCH_MODE: mode,
      ...(local?.env ?? {}),
      // The daemon is on by default with reuse, except in CI: baseEnv sets CI.
      ...(mode === 'warm' ? { KUBECACHE_REUSE: '1', KUBECACHE_DAEMON: '1' } : {}),
    });
    const { code, out } = await run(process.execPath, runnerArgs(runner), { cwd: dir, env });
    if (code !== 0)
      throw new Error(`${runner} ${mode} failed (exit ${code}):\n${out.slice(-4000)}`);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colours
    const passed = out.replace(/\x1b\[[0-9;]*m/g, '').match(/Tests:?\s+(\d+) passed/);
    if (!passed || Number(passed[1]) !== FILES * TESTS) {
      throw new Error(
        `${runner} ${mode}: expected ${FILES * TESTS} passed tests:\n${out.slice(-3000)}`,
      );
    }
  } finally {
    await local?.stop();
  }
  const ms = performance.now() - t0;
  const result = {
    ms,
    cpuS: machineCpuS() - cpu0.machine,
    childCpuS: childrenCpuS() + daemonsCpuS() - cpu0.children,
  };
  // A run ends once its deletes went through; the kubelet stops and removes
  // the pods after that, on nobody's wall time. Untimed, let it finish so
  // that work does not slow the next round (of any way).
  for (
    let i = 0;
    i < 150 && mode !== 'local' && managedPods({ terminating: true }).length > 0;
    i++
  ) {
    await new Promise((r) => setTimeout(r, 200));
  }
  await quiet();
  return result;
}

/**
 * Untimed: waits (at most 10 s) until the machine is nearly idle. A pod is
 * gone from the API before the kubelet and containerd have torn down its
 * sandbox and network, and local servers take a moment to exit; that work
 * belongs to the run that made it, not to the next round.
 */
async function quiet() {
  for (let i = 0; i < 20; i++) {
    const before = machineCpuS();
    await new Promise((r) => setTimeout(r, 500));
    // Under a quarter of one core busy over the half second.
    if (machineCpuS() - before < 0.125) return;
  }
}

/** kubecache's pods in the benchmark's namespace (`pod/<name>`); `terminating`: only those being deleted. */
function managedPods({ terminating = false } = {}) {
  const output = terminating
    ? 'jsonpath={range .items[?(@.metadata.deletionTimestamp)]}pod/{.metadata.name}{"\\n"}{end}'
    : 'name';
  return kubectl([
    '-n',
    NAMESPACE,
    'get',
    'pods',
    '-l',
    'app.kubernetes.io/managed-by=kubecache',
    '-o',
    output,
  ])
    .split('\n')
    .filter(Boolean);
}

await install();
generate();
const onCluster = MODES.some((m) => m !== 'local');
if (onCluster) await useBenchNamespace(NAMESPACE);
const split = SPLIT ? splitCores(kubeconfig) : undefined;
// Per "runner mode": every timed round's wall time and CPU seconds.
const results = {};
try {
  for (const runner of RUNNERS) {
    // Untimed: warms the OS caches and the runners' own caches, writes the
    // prestart record, and leaves kept pods for the first warm round.
    for (const mode of MODES) await once(runner, mode);
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of MODES) {
        const run = await once(runner, mode);
        const { ms, cpuS, childCpuS } = run;
        results[`${runner} ${mode}`] ??= [];
        results[`${runner} ${mode}`].push(run);
        console.log(
          `[suite] ${runner} ${mode} round ${r + 1}: ${ms.toFixed(0)} ms, CPU ${cpuS.toFixed(1)} s (runner and local servers ${childCpuS.toFixed(1)} s)`,
        );
      }
    }
  }
} finally {
  await stopDaemons();
  // Kept (reuse) pods are this benchmark's own: do not leave them idling.
  // A stopping daemon may delete one meanwhile: gone is what this wants.
  for (const pod of onCluster ? managedPods() : [])
    kubectl([
      '-n',
      NAMESPACE,
      'delete',
      pod,
      '--grace-period=0',
      '--wait=false',
      '--ignore-not-found',
    ]);
  split?.restore();
}

const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;
console.log(
  `\nsuite: ${FILES} files x ${TESTS} tests, ${WORKERS} workers, seeded redis + memcached per file, reset before each test; ${ROUNDS} rounds${split ? `; split cores: the runner and local servers on CPU ${split.runnerCpus}, the dev cluster and its pods on CPU ${split.clusterCpus}` : ''}\n`,
);
console.log('| runner | way | median | min | max | ratio to local |');
console.log('|---|---|---|---|---|---|');
for (const runner of RUNNERS) {
  const base = median(results[`${runner} local`]?.map((r) => r.ms) ?? [Number.NaN]);
  for (const mode of MODES) {
    const v = results[`${runner} ${mode}`].map((r) => r.ms);
    const m = median(v);
    console.log(
      `| ${runner} | ${mode} | ${fmt(m)} | ${fmt(Math.min(...v))} | ${fmt(Math.max(...v))} | ${(m / base).toFixed(2)}× |`,
    );
  }
}

// What the wall times cannot be below: the busy CPU seconds spread over the
// machine's cores. The rest column is the cluster (API server, kubelet,
// containerd, the cache pods) plus anything else that ran meanwhile.
const s1 = (v) => `${v.toFixed(1)} s`;
console.log(
  `\nCPU per run (medians; ${cores} cores: a run that keeps all of them busy lasts at least CPU / ${cores})\n`,
);
console.log(
  '| runner | way | CPU, whole machine | runner, workers, local servers | rest (cluster, pods) | CPU / cores |',
);
console.log('|---|---|---|---|---|---|');
for (const runner of RUNNERS) {
  for (const mode of MODES) {
    const v = results[`${runner} ${mode}`];
    const all = median(v.map((c) => c.cpuS));
    const own = median(v.map((c) => c.childCpuS));
    const rest = median(v.map((c) => c.cpuS - c.childCpuS));
    console.log(
      `| ${runner} | ${mode} | ${s1(all)} | ${s1(own)} | ${s1(rest)} | ${s1(all / cores)} |`,
    );
  }
}
