import { apiCall } from './api-call.js';
import type { KubeHandle } from './client.js';
import { AuthorizationV1Api } from './client-node.js';
import type { AccessCheck } from './rbac-rules.js';

export interface AccessVerdict extends AccessCheck {
  allowed: boolean;
  /** The authorizer's reason, when it gives one (often empty for RBAC). */
  reason?: string;
}

/**
 * Asks the API server whether the current identity may do each check in the
 * handle's namespace. SelfSubjectAccessReview is open to every authenticated
 * user (system:basic-user), so this works precisely when the Role is missing
 * pieces; the answers come from the real authorizer chain, not from reading
 * Roles, so cluster-wide bindings and webhooks count too.
 */
export async function reviewAccess(
  handle: KubeHandle,
  checks: readonly AccessCheck[],
): Promise<AccessVerdict[]> {
  const api = handle.kc.makeApiClient(AuthorizationV1Api);
  return Promise.all(
    checks.map(async (check) => {
      // A review creates nothing, so sending it again is harmless.
      const review = await apiCall(
        handle,
        { verb: 'create', resource: 'selfsubjectaccessreviews', namespace: handle.namespace },
        (options) =>
          api.createSelfSubjectAccessReview(
            {
              body: {
                spec: {
                  resourceAttributes: {
                    namespace: handle.namespace,
                    group: check.group,
                    resource: check.resource,
                    verb: check.verb,
                    ...(check.subresource ? { subresource: check.subresource } : {}),
                  },
                },
              },
            },
            options,
          ),
        { idempotent: true },
      );
      const reason = review.status?.reason;
      return { ...check, allowed: review.status?.allowed === true, ...(reason ? { reason } : {}) };
    }),
  );
}
