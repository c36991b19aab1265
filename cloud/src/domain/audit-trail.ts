import type { Queryable } from '../store/db.js';
import { audit } from '../store/audit.js';
import type { AuditResourceType } from '../store/audit.js';
import type { Actor } from './context.js';
import { jsonDiff } from './json-diff.js';

/** Records one change in the append-only audit log, inside the caller's transaction. */
export async function record(
  tx: Queryable,
  actor: Actor,
  entry: { projectId: string | null; action: string; resourceType: AuditResourceType; resourceKey: string; environment?: string | undefined; before: unknown; after: unknown },
): Promise<void> {
  await audit.append(tx, {
    orgId: actor.orgId,
    projectId: entry.projectId,
    actorId: actor.userId,
    actorEmail: actor.email,
    client: actor.client,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceKey: entry.resourceKey,
    environment: entry.environment,
    diff: jsonDiff(entry.before, entry.after),
  });
}

/**
 * Records an event nobody authenticated caused (a failed login, a lockout): no actor id or e-mail,
 * what is known in the entry's diff (`after`, an added document).
 */
export async function recordUnauthenticated(
  db: Queryable,
  entry: { orgId: string; client: string; action: string; resourceType: AuditResourceType; resourceKey: string; after: unknown },
): Promise<void> {
  await audit.append(db, {
    orgId: entry.orgId,
    projectId: null,
    actorId: null,
    actorEmail: null,
    client: entry.client,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceKey: entry.resourceKey,
    diff: jsonDiff(undefined, entry.after),
  });
}
