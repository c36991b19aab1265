import type { Queryable } from '../store/db.js';
import { audit } from '../store/audit.js';
import type { AuditResourceType, NewAuditEntry } from '../store/audit.js';
import type { Actor } from './context.js';
import { plainAddress } from '../http/client-ip.js';
import { jsonDiff } from './json-diff.js';

/**
 * A client address to record: null when unknown (the API's `ip` is "unknown" without a socket, as
 * in-process requests have); an IPv4 client of a dual-stack listener (`::ffff:203.0.113.7`) as its
 * IPv4 address, so one client reads the same whatever XP_HOST listens on.
 */
export function recordedAddress(ip: string | null | undefined): string | null {
  return ip === undefined || ip === null || ip === '' || ip === 'unknown' ? null : plainAddress(ip);
}

/**
 * What every entry an actor writes records of how they acted: the credential (a session's id, a
 * token's id and display prefix, a system actor's name; never a secret) and the client address.
 * One place, so every call of `record` gets them.
 */
export function actorProvenance(actor: Actor): Pick<NewAuditEntry, 'credential' | 'ip'> {
  const c = actor.credential;
  return {
    credential: c === undefined ? null : { kind: c.kind, id: c.id, ...(c.kind === 'token' && c.prefix !== undefined ? { prefix: c.prefix } : {}) },
    ip: recordedAddress(actor.ip),
  };
}

/**
 * Records one change in the append-only audit log, inside the caller's transaction. `marker`: how it
 * was made (a forced delete), added to the diff as top-level `add`s after the change's own.
 */
export async function record(
  tx: Queryable,
  actor: Actor,
  entry: { projectId: string | null; action: string; resourceType: AuditResourceType; resourceKey: string; environment?: string | undefined; before: unknown; after: unknown; marker?: Readonly<Record<string, unknown>> | undefined },
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
    diff: [...jsonDiff(entry.before, entry.after), ...Object.entries(entry.marker ?? {}).map(([name, to]) => ({ op: 'add', path: `/${name}`, to }))],
    ...actorProvenance(actor),
  });
}

/**
 * Records an event nobody authenticated caused (a failed login, a lockout): no actor id, e-mail or
 * credential, what is known in the entry's diff (`after`, an added document), and the client
 * address `ip` when known.
 */
export async function recordUnauthenticated(
  db: Queryable,
  entry: { orgId: string; client: string; action: string; resourceType: AuditResourceType; resourceKey: string; after: unknown; ip?: string | null | undefined },
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
    credential: null,
    ip: recordedAddress(entry.ip),
  });
}
