/**
 * The permissions kubecache needs in its namespace: the single source of
 * `kubecache doctor`'s access checks. docs/rbac.md shows the same rules as a
 * Role, and a unit test keeps the two equal.
 */
export interface RoleRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export const KUBECACHE_ROLE_RULES: readonly RoleRule[] = Object.freeze([
  {
    apiGroups: [''],
    resources: ['pods'],
    verbs: ['create', 'get', 'list', 'watch', 'delete', 'patch'],
  },
  { apiGroups: [''], resources: ['pods/exec', 'pods/portforward'], verbs: ['create', 'get'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'list', 'delete', 'patch'] },
  // Only used with `networkPolicy: true`.
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['create', 'delete'] },
]);

/** One verb on one resource, as a SelfSubjectAccessReview asks it. */
export interface AccessCheck {
  group: string;
  resource: string;
  subresource?: string;
  verb: string;
}

/** Every (resource, verb) pair the rules grant, in the order they are written. */
export function requiredAccess(rules: readonly RoleRule[] = KUBECACHE_ROLE_RULES): AccessCheck[] {
  const out: AccessCheck[] = [];
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      for (const full of rule.resources) {
        const [resource = '', subresource] = full.split('/');
        for (const verb of rule.verbs) {
          out.push({ group, resource, ...(subresource ? { subresource } : {}), verb });
        }
      }
    }
  }
  return out;
}

/** `pods/exec create`, as people write it in a Role. */
export function describeAccess(check: AccessCheck): string {
  return `${check.resource}${check.subresource ? `/${check.subresource}` : ''} ${check.verb}`;
}
