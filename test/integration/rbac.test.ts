import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type V1Role } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { managedSelector } from '../../src/names.js';
import {
  adminCore,
  adminNetworking,
  deleteNamespace,
  ensureNamespace,
  type RoleRule,
  serviceAccountKubeconfig,
} from '../support/cluster.js';
import { expectDeletedThenGone, podsBy } from '../support/pods-gone.js';

// The Role documented in docs/rbac.md is taken from the doc itself, so the
// documentation cannot drift from what kubecache really needs.
const NS = 'kc-rbac';
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function documentedRules(): RoleRule[] {
  const doc = readFileSync(join(repo, 'docs/rbac.md'), 'utf8');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!yaml) throw new Error('docs/rbac.md has no yaml block');
  const role = (loadAllYaml(yaml) as { kind: string }[]).find((o) => o.kind === 'Role') as V1Role;
  return (role.rules ?? []).map((r) => ({
    apiGroups: r.apiGroups ?? [''],
    resources: r.resources ?? [],
    verbs: r.verbs,
  }));
}

describe('the minimal Role from docs/rbac.md', () => {
  let broker: Broker;

  beforeAll(async () => {
    await ensureNamespace(NS);
    const kubeconfig = await serviceAccountKubeconfig(NS, 'kubecache', documentedRules());
    broker = await Broker.start({ progress: () => {}, env: { KUBECONFIG: kubeconfig } });
  });

  afterAll(async () => {
    await broker?.teardown();
    await deleteNamespace(NS);
  });

  it('is enough for every endpoint, both seed transports and teardown', async () => {
    const fixture = join(repo, 'test/fixtures/basic.rdb');
    const leases = await Promise.all([
      broker.acquire({ engine: 'redis', worker: '1', options: { endpoint: 'pod-ip' } }),
      broker.acquire({
        engine: 'memcached',
        worker: '1',
        options: { endpoint: 'port-forward', auth: true, networkPolicy: true },
      }),
      broker.acquire({
        engine: 'redis',
        worker: '2',
        seed: { kind: 'rdb', path: fixture, transport: 'http' },
      }),
      broker.acquire({
        engine: 'redis',
        worker: '3',
        seed: { kind: 'rdb', path: fixture, transport: 'exec' },
      }),
    ]);
    expect(leases.map((l) => l.endpoint)).toEqual(['pod-ip', 'port-forward', 'pod-ip', 'pod-ip']);
    const about = await broker.describe(leases[0]?.id ?? '');
    expect(about.events.length).toBeGreaterThan(0);
    const report = await broker.teardown();
    expect(report.remaining).toEqual([]);
    await expectDeletedThenGone(podsBy(NS, managedSelector()));
    const secrets = await adminCore().listNamespacedSecret({
      namespace: NS,
      labelSelector: managedSelector(),
    });
    expect(secrets.items).toEqual([]);
    const policies = await adminNetworking().listNamespacedNetworkPolicy({ namespace: NS });
    expect(policies.items).toEqual([]);
  });
});
