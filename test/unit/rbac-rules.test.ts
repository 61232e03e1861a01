import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type V1Role } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { describeAccess, KUBECACHE_ROLE_RULES, requiredAccess } from '../../src/kube/rbac-rules.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('the Role kubecache needs', () => {
  it('is the same in docs/rbac.md as in the constant doctor checks', () => {
    const doc = readFileSync(join(repo, 'docs/rbac.md'), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const role = (loadAllYaml(yaml) as { kind: string }[]).find((o) => o.kind === 'Role') as V1Role;
    const rules = (role.rules ?? []).map((r) => ({
      apiGroups: r.apiGroups ?? [],
      resources: r.resources ?? [],
      verbs: r.verbs,
    }));
    expect(rules).toEqual(KUBECACHE_ROLE_RULES);
  });

  it('expands into one check per resource, subresource and verb', () => {
    const checks = requiredAccess([
      { apiGroups: [''], resources: ['pods', 'pods/exec'], verbs: ['create', 'get'] },
    ]);
    expect(checks).toEqual([
      { group: '', resource: 'pods', verb: 'create' },
      { group: '', resource: 'pods', verb: 'get' },
      { group: '', resource: 'pods', subresource: 'exec', verb: 'create' },
      { group: '', resource: 'pods', subresource: 'exec', verb: 'get' },
    ]);
    expect(checks.map(describeAccess)).toEqual([
      'pods create',
      'pods get',
      'pods/exec create',
      'pods/exec get',
    ]);
    const all = requiredAccess().map(describeAccess);
    expect(all).toContain('pods/portforward create');
    expect(new Set(all).size).toBe(all.length);
  });
});
