import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adminKubeconfigPath } from '../support/cluster.js';

// The packed package loads dist/kube/client-node.js, which the build
// (test/consumers/build-dist.mjs) makes a bundle of client-node, while the
// tests of src/ run the installed package through src/kube/client-node.ts.
// These check, against the dist/ that test.sh builds, that the bundle is what
// that source file promises and that the built kube layer works through it
// on the dev cluster.

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bundlePath = join(repo, 'dist/kube/client-node.js');
const distModule = <T>(path: string): Promise<T> =>
  import(pathToFileURL(join(repo, 'dist', path)).href) as Promise<T>;

/**
 * Every module that loading `file` resolves (imports and require() calls
 * alike), seen by a resolve hook in a child process.
 */
function modulesLoadedBy(file: string): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.push(r.url); return r; } });
    await import(${JSON.stringify(pathToFileURL(file).href)});
    console.log(JSON.stringify(seen));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as string[];
}

describe('the client-node bundle in dist/', () => {
  it('is a bundle that loads only Node modules, with the licences of what it holds', () => {
    const code = readFileSync(bundlePath, 'utf8');
    expect(code.startsWith('// @kubernetes/client-node and its dependencies, bundled')).toBe(true);
    const loaded = modulesLoadedBy(bundlePath);
    // Node's own modules at least (the banner's createRequire); tsc's
    // re-export would load the installed package's thousand files instead.
    expect(loaded).toContain('node:module');
    const bundleUrl = pathToFileURL(bundlePath).href;
    expect(loaded.filter((url) => !url.startsWith('node:') && url !== bundleUrl)).toEqual([]);
    const licences = readFileSync(join(repo, 'dist/kube/client-node.licenses.txt'), 'utf8');
    expect(licences).toMatch(/^@kubernetes\/client-node \d+\.\d+\.\d+ \(Apache-2\.0/m);
    expect(licences).toContain('Apache License');
  });

  it('exports what src/kube/client-node.ts exports', async () => {
    const bundled = await distModule<Record<string, unknown>>('kube/client-node.js');
    const source = (await import('../../src/kube/client-node.js')) as Record<string, unknown>;
    expect(Object.keys(bundled).sort()).toEqual(Object.keys(source).sort());
    for (const name of Object.keys(source)) expect(typeof bundled[name]).toBe(typeof source[name]);
  });

  it('the built kube layer talks to the dev cluster through it, with shared connections', async () => {
    const bundled =
      await distModule<typeof import('../../src/kube/client-node.js')>('kube/client-node.js');
    const { connectKube } =
      await distModule<typeof import('../../src/kube/client.js')>('kube/client.js');
    const handle = await connectKube({
      kubeconfig: adminKubeconfigPath(),
      namespace: 'default',
      apiConnectMs: 10_000,
    });
    expect(handle.kc).toBeInstanceOf(bundled.KubeConfig);
    const ns = await handle.core.readNamespace({ name: 'default' });
    expect(ns.metadata?.name).toBe('default');
    // kube/shared-dispatcher.ts patched the bundled class's private factory:
    // the same TLS identity gets the same agent.
    const kc = handle.kc as unknown as {
      createDispatcher: (cluster: unknown, options: unknown) => unknown;
    };
    const cluster = handle.kc.getCurrentCluster();
    const first = kc.createDispatcher(cluster, { rejectUnauthorized: true });
    expect(first).toBeDefined();
    expect(kc.createDispatcher(cluster, { rejectUnauthorized: true })).toBe(first);
  });
});
