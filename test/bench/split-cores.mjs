// `--split-cores` for the suite benchmark: the dev cluster runs on this same
// machine, so its CPU (API server, kubelet, containerd, the cache pods) comes
// out of the cores the runner and its workers need. A user's cluster mostly
// runs elsewhere. This puts the benchmark (so the runner, its workers, the
// local servers and the kubecache daemon, which all inherit its cpuset) on
// the first core, and the dev cluster's processes, containerd's shims and the
// pods' cgroups on the others, for every way alike: local then has one core
// too. Linux cgroup v1 cpusets (the dev cluster's own setup), run as root.
// Everything is put back on exit.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';

const ROOT = '/sys/fs/cgroup/cpuset';

const read = (file) => readFileSync(file, 'utf8').trim();

/** Every cgroup under `dir`, parents before children. */
function tree(dir) {
  const out = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) out.push(...tree(join(dir, e.name)));
  return out;
}

/** Sets cpuset.cpus on a tree: a child must stay within its parent, so shrink leaves first, widen roots first. */
function setTreeCpus(dir, cpus, { shrink }) {
  const dirs = tree(dir);
  for (const d of shrink ? dirs.reverse() : dirs) {
    try {
      writeFileSync(join(d, 'cpuset.cpus'), cpus);
    } catch (err) {
      // A pod's cgroup the kubelet removed meanwhile.
      if (err.code !== 'ENOENT') throw err;
    }
  }
}

function makeSet(name, cpus) {
  const dir = join(ROOT, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cpuset.mems'), read(join(ROOT, 'cpuset.mems')));
  writeFileSync(join(dir, 'cpuset.cpus'), cpus);
  return dir;
}

/** Moves every process in `fromDir` (a cgroup) to `toDir`. */
function moveAll(fromDir, toDir) {
  for (const pid of read(join(fromDir, 'cgroup.procs')).split('\n').filter(Boolean)) {
    try {
      writeFileSync(join(toDir, 'cgroup.procs'), pid);
    } catch {
      // Exited meanwhile.
    }
  }
}

/**
 * Moves every process back to the root set and removes the sets. Processes
 * born meanwhile (containerd's runc and CNI children, a shim, a runner's
 * worker) land in a set being emptied and make rmdir fail (EBUSY): moved
 * again, for at most 5 s. Runs in an exit handler, so it reports instead of
 * throwing.
 */
function emptyAndRemove(dirs) {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let left = dirs;
  for (let i = 0; i < 100 && left.length > 0; i++) {
    for (const d of left) moveAll(d, ROOT);
    left = left.filter((d) => {
      try {
        rmdirSync(d);
        return false;
      } catch (err) {
        return err.code !== 'ENOENT';
      }
    });
    if (left.length > 0) Atomics.wait(pause, 0, 0, 50);
  }
  for (const d of left)
    console.error(
      `[suite] could not remove ${d}: move its processes (cgroup.procs) to ${ROOT}/cgroup.procs, then rmdir it`,
    );
}

/** The dev cluster's component pids (its pids/ dir beside the kubeconfig) and containerd's shims. */
function clusterPids(kubeconfig) {
  const dir = join(dirname(kubeconfig), 'pids');
  const pids = readdirSync(dir).map((f) => read(join(dir, f)));
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (read(`/proc/${p}/comm`).startsWith('containerd-shim')) pids.push(p);
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/**
 * Splits the cores; returns what puts them back (also run at exit). Throws
 * with the reason when this machine cannot (no cgroup v1 cpuset, one core).
 */
export function splitCores(kubeconfig) {
  // The pods' cgroup tree: the kubelet's cgroupRoot, in its config beside the kubeconfig.
  const kubelet = readFileSync(join(dirname(kubeconfig), 'kubelet.yaml'), 'utf8');
  const pods = join(ROOT, /^cgroupRoot:\s*(\S+)/m.exec(kubelet)?.[1] ?? '/kubecache');
  const cores = availableParallelism();
  if (cores < 2) throw new Error('--split-cores needs at least 2 cores');
  if (!existsSync(join(ROOT, 'cpuset.cpus')) || !existsSync(pods))
    throw new Error(`--split-cores needs cgroup v1 cpusets and the dev cluster's ${pods}`);
  const all = read(join(ROOT, 'cpuset.cpus'));
  const runnerCpus = '0';
  const clusterCpus = `1-${cores - 1}`;
  const runner = makeSet('kc-bench-runner', runnerCpus);
  const cluster = makeSet('kc-bench-cluster', clusterCpus);
  writeFileSync(join(runner, 'cgroup.procs'), String(process.pid));
  for (const pid of clusterPids(kubeconfig)) writeFileSync(join(cluster, 'cgroup.procs'), pid);
  setTreeCpus(pods, clusterCpus, { shrink: true });
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    setTreeCpus(pods, all, { shrink: false });
    emptyAndRemove([cluster, runner]);
  };
  process.on('exit', restore);
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => {
      restore();
      process.exit(130);
    });
  return { runnerCpus, clusterCpus, restore };
}
