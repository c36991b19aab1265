import type { Role } from '@xp/shared';
import { notFound } from '../errors.js';
import type { Queryable } from './db.js';
import { iso, isoOrNull } from './rows.js';
import { projectRolesColumn } from './project-roles.js';
import type { ProjectRole } from './project-roles.js';

/** Who a session or personal access token authenticates. */
export interface Principal {
  readonly userId: string;
  readonly orgId: string;
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  /** A person, or a service account (migration 0041: tokens only, never a session). */
  readonly kind: 'person' | 'service';
  readonly credentialId: string;
  /** A token's display prefix (`access_tokens.token_prefix`, never a secret); absent for a session. */
  readonly credentialPrefix?: string | undefined;
  readonly via: 'session' | 'token';
  /** A token's own role (the lower of it and `role` applies); null: the user's role. */
  readonly tokenRole: Role | null;
  /** The project ids a token is limited to; null: every project. */
  readonly tokenProjectIds: readonly string[] | null;
  /** The user's roles in single projects, in place of `role` there (migration 0024); empty when none. */
  readonly projectRoles: readonly ProjectRole[];
}

export interface AccessToken {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  /** The token's role; null: whatever the user's role is. */
  readonly role: Role | null;
  /** The keys of the projects it is limited to (those that still exist); null: every project. */
  readonly projects: string[] | null;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
  /**
   * Who minted it (migration 0043): the person themself for a personal token, the administrator (or
   * another service account) for a service account's; `name` is their display name, with
   * " (service account)" after a robot's. Null when unknown (a service account's token minted
   * before the migration without an audit entry naming the minter).
   */
  readonly createdBy: { readonly id: string; readonly name: string } | null;
}

/** The suffix naming a service account as a token's minter. */
export const SERVICE_ACCOUNT_SUFFIX = ' (service account)';

export interface SdkKey {
  readonly id: string;
  readonly projectId: string;
  readonly environment: string;
  readonly kind: 'server' | 'client';
  readonly name: string;
  readonly prefix: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  /** When the SDK endpoints last accepted it (recorded at most once a minute), or null if never. */
  readonly lastUsedAt: string | null;
  /** When a key being rotated out stops working, or null: it works until revoked. */
  readonly expiresAt: string | null;
}

interface PrincipalRow {
  user_id: string;
  org_id: string;
  email: string;
  name: string;
  role: Role;
  kind: 'person' | 'service';
  credential_id: string;
  credential_prefix?: string;
  token_role?: Role | null;
  token_project_ids?: string[] | null;
  project_roles: ProjectRole[];
}

interface TokenRow {
  id: string;
  name: string;
  token_prefix: string;
  role: Role | null;
  project_keys: string[] | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  created_by: string | null;
  created_by_name: string | null;
  created_by_kind: 'person' | 'service' | null;
}

interface SdkKeyRow {
  id: string;
  project_id: string;
  environment_key: string;
  kind: 'server' | 'client';
  name: string;
  key_prefix: string;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
  expires_at: Date | null;
}

const tokenFromRow = (r: TokenRow): AccessToken => ({
  id: r.id,
  name: r.name,
  prefix: r.token_prefix,
  role: r.role,
  projects: r.project_keys,
  createdAt: iso(r.created_at),
  expiresAt: isoOrNull(r.expires_at),
  lastUsedAt: isoOrNull(r.last_used_at),
  revokedAt: isoOrNull(r.revoked_at),
  createdBy: r.created_by === null ? null : { id: r.created_by, name: `${r.created_by_name ?? ''}${r.created_by_kind === 'service' ? SERVICE_ACCOUNT_SUFFIX : ''}` },
});

const sdkKeyFromRow = (r: SdkKeyRow): SdkKey => ({
  id: r.id,
  projectId: r.project_id,
  environment: r.environment_key,
  kind: r.kind,
  name: r.name,
  prefix: r.key_prefix,
  createdAt: iso(r.created_at),
  revokedAt: isoOrNull(r.revoked_at),
  lastUsedAt: isoOrNull(r.last_used_at),
  expiresAt: isoOrNull(r.expires_at),
});

const SDK_KEY_COLUMNS = 'id, project_id, environment_key, kind, name, key_prefix, created_at, revoked_at, last_used_at, expires_at';

/** Secrets are looked up by their hash only; the plain value never reaches the database. */
/** A token's columns, its projects as keys (those that still exist: none left is an empty list, never "every project"). */
const TOKEN_COLUMNS = `id, name, token_prefix, created_at, expires_at, last_used_at, revoked_at, role, created_by,
  (SELECT m.name FROM users m WHERE m.id = created_by) AS created_by_name,
  (SELECT m.kind FROM users m WHERE m.id = created_by) AS created_by_kind,
  CASE WHEN project_ids IS NULL THEN NULL
       ELSE coalesce((SELECT array_agg(p.key ORDER BY p.key) FROM projects p WHERE p.id = ANY(project_ids)), '{}') END AS project_keys`;

export const credentials = {
  async createSession(db: Queryable, s: { id: string; userId: string; tokenHash: string; client: string; expiresAt: Date }): Promise<void> {
    await db.query('INSERT INTO sessions (id, user_id, token_hash, client, expires_at) VALUES ($1, $2, $3, $4, $5)', [
      s.id,
      s.userId,
      s.tokenHash,
      s.client,
      s.expiresAt,
    ]);
  },

  async revokeSession(db: Queryable, tokenHash: string): Promise<boolean> {
    const result = await db.query('UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL', [tokenHash]);
    return result.rowCount > 0;
  },

  /** Revokes the user's sessions except `keepSessionId` (none kept when null); returns how many ended. */
  async revokeOtherSessions(db: Queryable, userId: string, keepSessionId: string | null): Promise<number> {
    const result = await db.query('UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR id <> $2)', [userId, keepSessionId]);
    return result.rowCount;
  },

  /** Revokes the user's personal access tokens; returns how many. */
  async revokeAccessTokensForUser(db: Queryable, userId: string): Promise<number> {
    const result = await db.query('UPDATE access_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [userId]);
    return result.rowCount;
  },

  /** The live session or access token with this hash: its id, kind and expiry (null: never). */
  async findCredential(db: Queryable, tokenHash: string, now: Date): Promise<{ id: string; via: 'session' | 'token'; expiresAt: Date | null } | undefined> {
    const result = await db.query<{ id: string; via: 'session' | 'token'; expires_at: Date | null }>(
      `SELECT id, 'session' AS via, expires_at FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2
       UNION ALL
       SELECT id, 'token' AS via, expires_at FROM access_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
      [tokenHash, now],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { id: row.id, via: row.via, expiresAt: row.expires_at };
  },

  async revokeAllForUser(db: Queryable, userId: string): Promise<{ sessionsRevoked: number; accessTokensRevoked: number }> {
    const sessions = await db.query('UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [userId]);
    const tokens = await db.query('UPDATE access_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [userId]);
    return { sessionsRevoked: sessions.rowCount, accessTokensRevoked: tokens.rowCount };
  },

  /** The active, enabled user behind a session or token hash, or undefined; a service account only behind a token (a disabled or deleted one never). */
  async findPrincipal(db: Queryable, tokenHash: string, now: Date): Promise<Principal | undefined> {
    const session = await db.query<PrincipalRow>(
      `SELECT u.id AS user_id, u.org_id, u.email, u.name, u.role, u.kind, s.id AS credential_id, ${projectRolesColumn('u.id')} AS project_roles FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled = false AND u.kind = 'person'`,
      [tokenHash, now],
    );
    const s = session.rows[0];
    if (s !== undefined) {
      return { userId: s.user_id, orgId: s.org_id, email: s.email, name: s.name, role: s.role, kind: s.kind, credentialId: s.credential_id, via: 'session', tokenRole: null, tokenProjectIds: null, projectRoles: s.project_roles };
    }
    const token = await db.query<PrincipalRow>(
      `UPDATE access_tokens t SET last_used_at = $2 FROM users u
       WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.id = t.user_id AND u.disabled = false AND u.deleted_at IS NULL
       RETURNING u.id AS user_id, u.org_id, u.email, u.name, u.role, u.kind, t.id AS credential_id, t.token_prefix AS credential_prefix, t.role AS token_role, t.project_ids AS token_project_ids, ${projectRolesColumn('u.id')} AS project_roles`,
      [tokenHash, now],
    );
    const t = token.rows[0];
    return t === undefined
      ? undefined
      : { userId: t.user_id, orgId: t.org_id, email: t.email, name: t.name, role: t.role, kind: t.kind, credentialId: t.credential_id, ...(t.credential_prefix === undefined ? {} : { credentialPrefix: t.credential_prefix }), via: 'token', tokenRole: t.token_role ?? null, tokenProjectIds: t.token_project_ids ?? null, projectRoles: t.project_roles };
  },

  /** `parentId`: the access token the new one was made with (revoking it revokes this one too); `createdBy`: the user who minted it. */
  async createAccessToken(
    db: Queryable,
    t: { id: string; userId: string; name: string; tokenHash: string; prefix: string; expiresAt: Date | null; parentId: string | null; createdBy?: string | null; role?: Role | null; projectIds?: readonly string[] | null },
  ): Promise<AccessToken> {
    const result = await db.query<TokenRow>(
      `INSERT INTO access_tokens (id, user_id, name, token_hash, token_prefix, expires_at, parent_id, role, project_ids, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       RETURNING ${TOKEN_COLUMNS}`,
      [t.id, t.userId, t.name, t.tokenHash, t.prefix, t.expiresAt, t.parentId, t.role ?? null, t.projectIds ?? null, t.createdBy ?? null],
    );
    return tokenFromRow(result.rows[0]!);
  },

  /** When an access token stops working (null: never), or undefined when there is no such token. */
  async accessTokenExpiry(db: Queryable, id: string): Promise<Date | null | undefined> {
    const result = await db.query<{ expires_at: Date | string | null }>('SELECT expires_at FROM access_tokens WHERE id = $1', [id]);
    const row = result.rows[0];
    return row === undefined ? undefined : row.expires_at === null ? null : new Date(row.expires_at);
  },

  async countLiveAccessTokens(db: Queryable, userId: string, now: Date): Promise<number> {
    const result = await db.query<{ n: string }>('SELECT count(*) AS n FROM access_tokens WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)', [userId, now]);
    return Number(result.rows[0]?.n ?? 0);
  },

  async listAccessTokens(db: Queryable, userId: string): Promise<AccessToken[]> {
    const result = await db.query<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM access_tokens WHERE user_id = $1 ORDER BY created_at DESC, id`,
      [userId],
    );
    return result.rows.map(tokenFromRow);
  },

  /** The ids of a token of the user and of every token made with it (and theirs). */
  async accessTokenTree(db: Queryable, userId: string, rootId: string): Promise<string[]> {
    const result = await db.query<{ id: string }>(
      `WITH RECURSIVE tree AS (
         SELECT id FROM access_tokens WHERE user_id = $1 AND id = $2
         UNION
         SELECT t.id FROM access_tokens t JOIN tree ON t.parent_id = tree.id
       )
       SELECT id FROM tree`,
      [userId, rootId],
    );
    return result.rows.map((r) => r.id);
  },

  /**
   * Revokes one of the user's tokens and every token made with it, and theirs: a token minted with a
   * leaked one stops working with it. Returns the token asked for and how many others went with it.
   */
  /**
   * Revokes a token and the tokens made with it (call in a transaction). `revokedNow` is false when
   * it was revoked already; `descendants` counts the tokens made with it that this call revoked
   * (none when they went with it before), so revoking again changes and reports nothing.
   */
  async revokeAccessToken(db: Queryable, userId: string, id: string): Promise<{ token: AccessToken; revokedNow: boolean; descendants: number }> {
    // Locked first: of two revokes at once, the second sees the first's and reports nothing new.
    const before = await db.query<{ id: string; live: boolean }>(
      `WITH RECURSIVE tree AS (
         SELECT id FROM access_tokens WHERE user_id = $1 AND id = $2
         UNION
         SELECT t.id FROM access_tokens t JOIN tree ON t.parent_id = tree.id
       )
       SELECT id, revoked_at IS NULL AS live FROM access_tokens WHERE id IN (SELECT id FROM tree) FOR UPDATE`,
      [userId, id],
    );
    const requested = before.rows.find((r) => r.id === id);
    if (requested === undefined) {
      throw notFound('access token');
    }
    const live = before.rows.filter((r) => r.live).map((r) => r.id);
    if (live.length > 0) {
      await db.query('UPDATE access_tokens SET revoked_at = now() WHERE id = ANY($1::text[]) AND revoked_at IS NULL', [live]);
    }
    const result = await db.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM access_tokens WHERE id = $1`, [id]);
    return { token: tokenFromRow(result.rows[0]!), revokedNow: requested.live, descendants: live.filter((t) => t !== id).length };
  },

  async createSdkKey(
    db: Queryable,
    k: { id: string; projectId: string; environment: string; kind: 'server' | 'client'; name: string; keyHash: string; prefix: string; createdBy: string | null },
  ): Promise<SdkKey> {
    const result = await db.query<SdkKeyRow>(
      `INSERT INTO sdk_keys (id, project_id, environment_key, kind, name, key_hash, key_prefix, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       RETURNING ${SDK_KEY_COLUMNS}`,
      [k.id, k.projectId, k.environment, k.kind, k.name, k.keyHash, k.prefix, k.createdBy],
    );
    return sdkKeyFromRow(result.rows[0]!);
  },

  async listSdkKeys(db: Queryable, projectId: string, environment?: string): Promise<SdkKey[]> {
    const result = await db.query<SdkKeyRow>(
      `SELECT ${SDK_KEY_COLUMNS} FROM sdk_keys WHERE project_id = $1${
        environment === undefined ? '' : ' AND environment_key = $2'
      } ORDER BY created_at, id`,
      environment === undefined ? [projectId] : [projectId, environment],
    );
    return result.rows.map(sdkKeyFromRow);
  },

  /** Revokes a key (call in a transaction); `revokedNow` is false when it was revoked already and nothing changed. */
  async revokeSdkKey(db: Queryable, projectId: string, id: string): Promise<{ sdkKey: SdkKey; revokedNow: boolean }> {
    const before = await credentials.lockSdkKey(db, projectId, id);
    const result = await db.query<SdkKeyRow>(
      `UPDATE sdk_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE project_id = $1 AND id = $2
       RETURNING ${SDK_KEY_COLUMNS}`,
      [projectId, id],
    );
    return { sdkKey: sdkKeyFromRow(result.rows[0]!), revokedNow: before.revokedAt === null };
  },

  /** The SDK key with this id, for update (call in a transaction). */
  async lockSdkKey(db: Queryable, projectId: string, id: string): Promise<SdkKey> {
    const result = await db.query<SdkKeyRow>(`SELECT ${SDK_KEY_COLUMNS} FROM sdk_keys WHERE project_id = $1 AND id = $2 FOR UPDATE`, [projectId, id]);
    if (result.rows[0] === undefined) {
      throw notFound('SDK key');
    }
    return sdkKeyFromRow(result.rows[0]);
  },

  /** Sets when a key stops working: never later than an expiry it already has. */
  async expireSdkKey(db: Queryable, projectId: string, id: string, at: Date): Promise<SdkKey> {
    const result = await db.query<SdkKeyRow>(
      `UPDATE sdk_keys SET expires_at = LEAST(COALESCE(expires_at, $3), $3) WHERE project_id = $1 AND id = $2 RETURNING ${SDK_KEY_COLUMNS}`,
      [projectId, id, at],
    );
    if (result.rows[0] === undefined) {
      throw notFound('SDK key');
    }
    return sdkKeyFromRow(result.rows[0]);
  },

  /** The SDK key with this hash that works at `now`: not revoked, not expired (used by the SDK endpoints). */
  async findSdkKey(db: Queryable, keyHash: string, now: Date): Promise<SdkKey | undefined> {
    const result = await db.query<SdkKeyRow>(
      `SELECT ${SDK_KEY_COLUMNS} FROM sdk_keys WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
      [keyHash, now],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : sdkKeyFromRow(row);
  },

  /** Records a use of the key, unless one was recorded in the minute before `now` (one write a minute per key at most). */
  async touchSdkKey(db: Queryable, id: string, now: Date): Promise<void> {
    await db.query("UPDATE sdk_keys SET last_used_at = $2::timestamptz WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')", [id, now]);
  },
};
