// Shared helpers for the benchmark scripts: they run against the dev cluster
// (npm run cluster:up) and the built package (dist/), and print figures
// measured in one run, side by side, with their ratios.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
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

/**
 * PING until +PONG. A locked cache (auth, the default) is sent AUTH first;
 * with TLS the lease's CA and server name are checked.
 */
export function ping(host, port, timeoutMs = 3000, lease = undefined) {
  return new Promise((resolve, reject) => {
    const s = lease?.tls
      ? tlsConnect({ host, port, ca: lease.tls.ca, servername: lease.tls.servername })
      : connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no PONG from ${host}:${port}`));
    }, timeoutMs);
    let data = '';
    const auth = lease?.auth ? `AUTH ${lease.auth.password}\r\n` : '';
    s.on(lease?.tls ? 'secureConnect' : 'connect', () => s.write(`${auth}PING\r\n`));
    s.on('data', (d) => {
      data += d;
      const lines = data.split('\r\n');
      if (lines.length > (auth ? 2 : 1)) {
        clearTimeout(timer);
        s.end();
        const last = lines[auth ? 1 : 0];
        last.startsWith('+PONG') ? resolve() : reject(new Error(data));
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
