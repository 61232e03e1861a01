// Shared helpers for the benchmark scripts: they run against the dev cluster
// (npm run cluster:up) and the built package (dist/), and print figures
// measured in one run, side by side, with their ratios.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const kubeconfig = process.env.KUBECONFIG ?? join(repo, '.kubecache-dev/admin.kubeconfig');

export function kubectlPath() {
  const cache = process.env.KUBECACHE_CACHE_DIR ?? join(homedir(), '.cache/kubecache');
  const dirs = readdirSync(join(cache, 'cluster')).filter((d) =>
    existsSync(join(cache, 'cluster', d, 'kubectl')),
  );
  if (dirs.length === 0) throw new Error('no kubectl in the cluster cache: run npm run cluster:up');
  return join(cache, 'cluster', dirs.sort().at(-1), 'kubectl');
}

export function kubectl(args) {
  return execFileSync(kubectlPath(), ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
}

export function ping(host, port, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no PONG from ${host}:${port}`));
    }, timeoutMs);
    let data = '';
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      data += d;
      if (data.includes('\r\n')) {
        clearTimeout(timer);
        s.end();
        data.startsWith('+PONG') ? resolve() : reject(new Error(data));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export const median = (values) => quantile(values, 0.5);

export function fmt(ms) {
  return `${ms.toFixed(0).padStart(6)} ms`;
}

/** Points kubecache at a fresh benchmark namespace on the dev cluster. */
export async function useBenchNamespace(namespace) {
  process.env.KUBECONFIG = kubeconfig;
  process.env.KUBECACHE_NAMESPACE = namespace;
  process.env.KUBECACHE_QUIET = '1';
  try {
    kubectl(['create', 'namespace', namespace]);
  } catch {
    // left over from an interrupted run: reuse it
  }
  // Pods are refused until the controller-manager made the default ServiceAccount.
  for (let i = 0; i < 50; i++) {
    try {
      kubectl(['-n', namespace, 'get', 'serviceaccount', 'default']);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`namespace ${namespace} has no default ServiceAccount`);
}

export function dropBenchNamespace(namespace) {
  kubectl(['delete', 'namespace', namespace, '--wait=false']);
}
