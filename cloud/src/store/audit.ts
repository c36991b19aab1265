import type { Queryable } from './db.js';
import type { Page, PageRequest } from './pagination.js';
import { decodeCursor, toPage } from './pagination.js';
import { iso } from './rows.js';

/**
 * Every resource type the audit log records (`record` accepts no other), so a filter on another
 * one is a mistake to report rather than an empty answer.
 */
export const AUDIT_RESOURCE_TYPES = ['flag', 'segment', 'experiment', 'metric', 'holdout', 'environment', 'project', 'user', 'access-token', 'sdk-key', 'organization', 'webhook', 'code-refs'] as const;
export type AuditResourceType = (typeof AUDIT_RESOURCE_TYPES)[number];

/**
 * The credential an entry was made with (migration 0034): a session (its id), a personal access
 * token (its id and display prefix) or a system actor (id its name). Never a secret or a hash.
 */
export interface AuditCredential {
  readonly kind: 'session' | 'token' | 'system';
  readonly id: string;
  /** A token's display prefix (`xpp_ab12cd34`); null for sessions and system actors. */
  readonly prefix: string | null;
}

/** One change: who, when, what (a JSON diff), through which client, credential and address. */
export interface AuditEntry {
  readonly id: number;
  readonly projectId: string | null;
  readonly actorId: string | null;
  readonly actorEmail: string | null;
  readonly client: string;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceKey: string;
  readonly environment: string | null;
  readonly diff: unknown;
  readonly createdAt: string;
  /** The session or token the change was made with; null for entries before migration 0034, failed logins and operator CLI commands. */
  readonly credential: AuditCredential | null;
  /** The client address (client-ip.ts: behind trusted proxies, the right-most untrusted X-Forwarded-For entry); null when unknown. */
  readonly ip: string | null;
  /**
   * What the target is called, for a target whose key is an internal id (user: its e-mail; webhook:
   * its name; SDK key and access token: name and public prefix), resolved when read; for a target
   * gone since, what the entry recorded of it; absent when neither is known. Never a secret.
   */
  readonly resourceLabel?: string;
}

export interface NewAuditEntry {
  readonly orgId: string;
  readonly projectId: string | null;
  readonly actorId: string | null;
  readonly actorEmail: string | null;
  readonly client: string;
  readonly action: string;
  readonly resourceType: AuditResourceType;
  readonly resourceKey: string;
  readonly environment?: string | null | undefined;
  readonly diff: unknown;
  /** The credential the change was made with (`prefix` only for a token); null or absent: none known. */
  readonly credential?: { readonly kind: 'session' | 'token' | 'system'; readonly id: string; readonly prefix?: string | undefined } | null | undefined;
  /** The client address; null or absent: unknown. */
  readonly ip?: string | null | undefined;
}

export interface AuditFilter extends PageRequest {
  readonly projectId?: string | undefined;
  /** Only entries of these projects (never the organisation's own): what a token limited to them sees. */
  readonly projectIds?: readonly string[] | undefined;
  readonly resourceType?: string | undefined;
  readonly resourceKey?: string | undefined;
  readonly actorId?: string | undefined;
  /** Only entries made with this credential: a token's (or session's) id. */
  readonly credentialId?: string | undefined;
  readonly environment?: string | undefined;
  /** An action (`flag.updated`), or every action of a resource type (`flag.*`). */
  readonly action?: string | undefined;
  /**
   * Only entries that turned a flag on or off, whatever their action: a toggle, an edit of the
   * environment's state or of the whole flag, a flags file applied, an approved change request.
   * With `environment`, the flag was turned on or off in that environment.
   */
  readonly turned?: 'on' | 'off' | undefined;
  /** Entries made at or after this instant. */
  readonly from?: Date | undefined;
  /** Entries made before this instant. */
  readonly to?: Date | undefined;
}

interface Row {
  id: string | number;
  project_id: string | null;
  actor_id: string | null;
  actor_email: string | null;
  client: string;
  action: string;
  resource_type: string;
  resource_key: string;
  environment_key: string | null;
  diff: unknown;
  created_at: Date;
  credential_kind: 'session' | 'token' | 'system' | null;
  credential_id: string | null;
  credential_prefix: string | null;
  ip: string | null;
  /** The target's label columns (LABEL_COLUMNS), null when it has none or is gone; absent where not selected. */
  target_email?: string | null;
  target_name?: string | null;
  target_prefix?: string | null;
}

/**
 * The label columns of an audit entry `a` (joined by LABEL_JOINS): only e-mails, names and public
 * prefixes, never a webhook's URL or a key's or token's hash.
 */
const LABEL_COLUMNS = `CASE WHEN lu.kind = 'service' THEN lu.name || ' (service account)' ELSE lu.email END AS target_email,
       CASE a.resource_type WHEN 'webhook' THEN lw.name WHEN 'sdk-key' THEN lk.name WHEN 'access-token' THEN lt.name END AS target_name,
       CASE a.resource_type WHEN 'sdk-key' THEN lk.key_prefix WHEN 'access-token' THEN lt.token_prefix END AS target_prefix`;

/**
 * The targets of entries `a` whose key is an internal id, each joined within the entry's
 * organisation (and project): one query for a whole page or export, whatever its entry count.
 */
const LABEL_JOINS = `LEFT JOIN users lu ON a.resource_type = 'user' AND lu.id = a.resource_key AND lu.org_id = a.org_id
       LEFT JOIN webhooks lw ON a.resource_type = 'webhook' AND lw.id = a.resource_key AND lw.project_id = a.project_id
       LEFT JOIN sdk_keys lk ON a.resource_type = 'sdk-key' AND lk.id = a.resource_key AND lk.project_id = a.project_id
       LEFT JOIN (access_tokens lt JOIN users ltu ON ltu.id = lt.user_id) ON a.resource_type = 'access-token' AND lt.id = a.resource_key AND ltu.org_id = a.org_id`;

/** What names a target: a user's e-mail; a webhook's, SDK key's or token's name, and a key's or token's public prefix. */
interface TargetNames {
  email?: string | undefined;
  name?: string | undefined;
  prefix?: string | undefined;
}

const named = (n: TargetNames): string | undefined => (n.name === undefined ? (n.prefix === undefined ? undefined : `${n.prefix}…`) : n.prefix === undefined ? n.name : `${n.name} (${n.prefix}…)`);

/** The resource types whose key is an internal id, and their label from what names the target. */
const LABELS: ReadonlyMap<string, (n: TargetNames) => string | undefined> = new Map<AuditResourceType, (n: TargetNames) => string | undefined>([
  ['user', (n) => n.email],
  ['webhook', (n) => n.name],
  ['sdk-key', named],
  ['access-token', named],
]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * What an entry's own diff recorded of its target's e-mail, name and prefix, for a target gone
 * since: the values after the change first (a whole document added, or a field set), then before it.
 */
function recordedNames(diff: unknown): TargetNames {
  const out: TargetNames = {};
  if (!Array.isArray(diff)) {
    return out;
  }
  const take = (field: string, value: unknown): void => {
    if ((field === 'email' || field === 'name' || field === 'prefix') && out[field] === undefined && typeof value === 'string' && value !== '') {
      out[field] = value;
    }
  };
  for (const side of ['to', 'from'] as const) {
    for (const d of diff as unknown[]) {
      if (!isRecord(d) || typeof d.path !== 'string') {
        continue;
      }
      const value = d[side];
      if (d.path === '' && isRecord(value)) {
        for (const field of ['email', 'name', 'prefix']) {
          take(field, value[field]);
        }
      } else if (d.path === '/email' || d.path === '/name' || d.path === '/prefix') {
        take(d.path.slice(1), value);
      }
    }
  }
  return out;
}

/** An entry's label (AuditEntry.resourceLabel): from its target as it is now, else from the entry's diff; or undefined. */
function labelOf(r: Row): string | undefined {
  const label = LABELS.get(r.resource_type);
  if (label === undefined) {
    return undefined;
  }
  const live = r.resource_type === 'user' ? r.target_email : r.target_name;
  return label(live === undefined || live === null ? recordedNames(r.diff) : { email: r.target_email ?? undefined, name: r.target_name ?? undefined, prefix: r.target_prefix ?? undefined });
}

const fromRow = (r: Row): AuditEntry => {
  const label = labelOf(r);
  return {
    id: Number(r.id),
    projectId: r.project_id,
    actorId: r.actor_id,
    actorEmail: r.actor_email,
    client: r.client,
    action: r.action,
    resourceType: r.resource_type,
    resourceKey: r.resource_key,
    environment: r.environment_key,
    diff: r.diff,
    createdAt: iso(r.created_at),
    credential: r.credential_kind === null || r.credential_id === null ? null : { kind: r.credential_kind, id: r.credential_id, prefix: r.credential_prefix },
    ip: r.ip,
    ...(label === undefined ? {} : { resourceLabel: label }),
  };
};

/** An entry as exported: with its project's key. */
export interface ExportedAuditEntry extends AuditEntry {
  readonly projectKey: string | null;
}

/** What the change feed says of an audit entry: what changed, not who or how (no diff). */
export interface ChangeNotice {
  readonly id: number;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceKey: string;
  readonly environment: string | null;
  readonly at: string;
}

/** The append-only audit log (the table refuses UPDATE and DELETE). */
export const audit = {
  async append(db: Queryable, e: NewAuditEntry): Promise<void> {
    await db.query(
      `INSERT INTO audit_log (org_id, project_id, actor_id, actor_email, client, action, resource_type, resource_key, environment_key, diff, credential_kind, credential_id, credential_prefix, ip)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        e.orgId,
        e.projectId,
        e.actorId,
        e.actorEmail,
        e.client,
        e.action,
        e.resourceType,
        e.resourceKey,
        e.environment ?? null,
        JSON.stringify(e.diff ?? null),
        e.credential?.kind ?? null,
        e.credential?.id ?? null,
        e.credential?.kind === 'token' ? (e.credential.prefix ?? null) : null,
        e.ip ?? null,
      ],
    );
  },

  /** A project's entries after `afterId`, oldest first, as change notices. */
  async changesAfter(db: Queryable, projectId: string, afterId: number, limit: number): Promise<ChangeNotice[]> {
    const out = await db.query<Pick<Row, 'id' | 'action' | 'resource_type' | 'resource_key' | 'environment_key' | 'created_at'>>(
      `SELECT id, action, resource_type, resource_key, environment_key, created_at FROM audit_log
       WHERE project_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [projectId, afterId, limit],
    );
    return out.rows.map((r) => ({ id: Number(r.id), action: r.action, resourceType: r.resource_type, resourceKey: r.resource_key, environment: r.environment_key, at: iso(r.created_at) }));
  },

  /** The client addresses a user's login failed from since `since` (their `user.login-failed` entries). */
  async loginFailureAddresses(db: Queryable, orgId: string, userId: string, since: Date): Promise<string[]> {
    const out = await db.query<{ ip: string }>(
      `SELECT DISTINCT diff->0->'to'->>'ip' AS ip FROM audit_log
       WHERE org_id = $1 AND resource_type = 'user' AND resource_key = $2 AND action = 'user.login-failed' AND created_at >= $3
         AND diff->0->'to'->>'ip' IS NOT NULL`,
      [orgId, userId, since.toISOString()],
    );
    return out.rows.map((r) => r.ip);
  },

  /** The project's newest entry id (0 when none): where a new change stream starts. */
  async latestId(db: Queryable, projectId: string): Promise<number> {
    const out = await db.query<{ id: string | number | null }>('SELECT max(id) AS id FROM audit_log WHERE project_id = $1', [projectId]);
    return Number(out.rows[0]?.id ?? 0);
  },

  /** Newest first, filtered; the cursor is the last id seen. */
  async list(db: Queryable, orgId: string, filter: AuditFilter): Promise<Page<AuditEntry>> {
    const { where, params } = auditWhere(orgId, filter);
    const before = decodeCursor(filter.cursor, 'number');
    if (before !== undefined) {
      params.push(before);
      where.push(`id < $${params.length}`);
    }
    params.push(filter.limit + 1);
    const result = await db.query<Row>(
      `SELECT a.*, ${LABEL_COLUMNS}
       FROM (SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${params.length}) a
       ${LABEL_JOINS}
       ORDER BY a.id DESC`,
      params,
    );
    return toPage(result.rows, filter.limit, fromRow, (r) => Number(r.id));
  },

  /**
   * Every entry the filter matches, oldest first, with the key of its project (null for the
   * organisation's entries and for a project deleted since), at most `max`; `more` says whether
   * others match beyond them.
   */
  async exportEntries(db: Queryable, orgId: string, filter: Omit<AuditFilter, 'limit' | 'cursor'>, max: number): Promise<{ entries: ExportedAuditEntry[]; more: boolean }> {
    const { where, params } = auditWhere(orgId, filter);
    params.push(max + 1);
    const result = await db.query<Row & { project_key: string | null }>(
      `SELECT a.*, p.key AS project_key, ${LABEL_COLUMNS}
       FROM (SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${params.length}) a
       LEFT JOIN projects p ON p.id = a.project_id
       ${LABEL_JOINS}
       ORDER BY a.id`,
      params,
    );
    return { entries: result.rows.slice(0, max).map((r) => ({ ...fromRow(r), projectKey: r.project_key })), more: result.rows.length > max };
  },
};

/**
 * The entries of a flag that turned it on (off), in `environment` when given: the database's
 * `audit_turns` (migration 0029), which webhooks on `flag.enabled` / `flag.disabled` match by too.
 */
function turnedCondition(turned: 'on' | 'off', environment: string | undefined, params: unknown[]): string {
  params.push(turned === 'on');
  const on = `$${params.length}::boolean`;
  params.push(environment === undefined || environment === '' ? null : [environment]);
  return `audit_turns(resource_type, diff, ${on}, $${params.length}::text[])`;
}

/** The WHERE clauses and parameters of a filter (the organisation's entries, narrowed). */
function auditWhere(orgId: string, filter: Omit<AuditFilter, 'limit' | 'cursor'>): { where: string[]; params: unknown[] } {
  const params: unknown[] = [orgId];
  const where = ['org_id = $1'];
  const add = (column: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') {
      params.push(value);
      where.push(`${column} = $${params.length}`);
    }
  };
  add('project_id', filter.projectId);
  if (filter.projectIds !== undefined) {
    params.push([...filter.projectIds]);
    where.push(`project_id = ANY($${params.length}::text[])`);
  }
  add('resource_type', filter.resourceType);
  add('resource_key', filter.resourceKey);
  add('actor_id', filter.actorId);
  add('credential_id', filter.credentialId);
  if (filter.turned === undefined) {
    if (filter.environment !== undefined && filter.environment !== '') {
      // Entries that touched the environment, filed under it or not (a create, a delete, a
      // whole-flag change spanning environments): `environment_keys`, migration 0030; '*' is every one.
      params.push([filter.environment, '*']);
      where.push(`environment_keys && $${params.length}::text[]`);
    }
  } else {
    where.push(turnedCondition(filter.turned, filter.environment, params));
  }
  if (filter.action?.endsWith('.*') === true) {
    // Action names are lower-case letters, hyphens and dots (checked by the route): no LIKE wildcard among them.
    params.push(`${filter.action.slice(0, -1)}%`);
    where.push(`action LIKE $${params.length}`);
  } else {
    add('action', filter.action);
  }
  if (filter.from !== undefined) {
    params.push(filter.from);
    where.push(`created_at >= $${params.length}`);
  }
  if (filter.to !== undefined) {
    params.push(filter.to);
    where.push(`created_at < $${params.length}`);
  }
  return { where, params };
}
