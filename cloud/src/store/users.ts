import type { Role } from '@xp/shared';
import { AppError, AppErrorCode, notFound, versionConflict } from '../errors.js';
import type { Queryable } from './db.js';
import { DatabaseError, SqlState } from './database.js';
import type { Page, PageRequest } from './pagination.js';
import { decodeCursor, toPage } from './pagination.js';
import { iso } from './rows.js';
import { foldedSearch } from './search.js';
import { projectRolesColumn } from './project-roles.js';
import type { ProjectRole } from './project-roles.js';

/** A person (signs in with a password) or a service account (acts only through its access tokens; migration 0041). */
export const UserKind = {
  /** A person: email and password, sessions and personal access tokens. */
  Person: 'person',
  /** A service account: no password, no session; tokens an administrator mints act as it. */
  Service: 'service',
} as const;
export type UserKind = (typeof UserKind)[keyof typeof UserKind];

/** Which accounts a list shows: people (the default), service accounts, or both. */
export type UserKindFilter = UserKind | 'all';

/** The domain of service accounts' `email` handles: reserved (RFC 2606), so no mailbox and no login has it. */
export const SERVICE_ACCOUNT_EMAIL_DOMAIN = 'service-accounts.invalid';

export interface User {
  readonly id: string;
  readonly kind: UserKind;
  readonly orgId: string;
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  readonly disabled: boolean;
  /** The password was set by an administrator (invitation or reset): the user must choose their own at the next login. */
  readonly passwordChangeRequired: boolean;
  /** Roles in single projects, in place of `role` there (never for an owner); by project key. */
  readonly projectRoles: readonly ProjectRole[];
  /** A service account's description (null when it has none, and for people). */
  readonly description: string | null;
  /** Linked to the identity provider's (issuer, subject) by an SSO sign-in (migration 0046). */
  readonly sso: boolean;
  /** Has a password (a person created at their first SSO sign-in, and a service account, have none). */
  readonly hasPassword: boolean;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface Row {
  id: string;
  kind: UserKind;
  description: string | null;
  org_id: string;
  email: string;
  name: string;
  role: Role;
  disabled: boolean;
  password_change_required: boolean;
  project_roles: ProjectRole[];
  sso: boolean;
  has_password: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
  password_hash?: string | null;
}

// The project roles come with the user (a subquery, no query of their own).
const COLUMNS = `id, kind, description, org_id, email, name, role, disabled, password_change_required, ${projectRolesColumn('users.id')} AS project_roles,
  (sso_issuer IS NOT NULL) AS sso, (password_hash IS NOT NULL) AS has_password, version, created_at, updated_at`;

function fromRow(r: Row): User {
  return {
    id: r.id,
    kind: r.kind,
    orgId: r.org_id,
    email: r.email,
    name: r.name,
    role: r.role,
    disabled: r.disabled,
    passwordChangeRequired: r.password_change_required,
    projectRoles: r.project_roles,
    description: r.description,
    sso: r.sso,
    hasPassword: r.has_password,
    version: r.version,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export const users = {
  async create(
    db: Queryable,
    user: { id: string; orgId: string; email: string; name: string; role: Role; passwordHash: string | null; passwordChangeRequired?: boolean; kind?: UserKind; description?: string | null },
  ): Promise<User> {
    try {
      const result = await db.query<Row>(
        `INSERT INTO users (id, org_id, email, name, role, password_hash, password_change_required, kind, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
        [user.id, user.orgId, user.email, user.name, user.role, user.passwordHash, user.passwordChangeRequired ?? false, user.kind ?? UserKind.Person, user.description ?? null],
      );
      return fromRow(result.rows[0]!);
    } catch (e) {
      if (e instanceof DatabaseError && e.code === SqlState.UniqueViolation) {
        throw new AppError(AppErrorCode.AlreadyExists, `a user with email ${user.email} already exists`);
      }
      throw e;
    }
  },

  /** The user or service account (a deleted service account is not found). */
  async find(db: Queryable, orgId: string, id: string): Promise<User | undefined> {
    const result = await db.query<Row>(`SELECT ${COLUMNS} FROM users WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL`, [orgId, id]);
    const row = result.rows[0];
    return row === undefined ? undefined : fromRow(row);
  },

  async get(db: Queryable, orgId: string, id: string): Promise<User> {
    const user = await users.find(db, orgId, id);
    if (user === undefined) {
      throw notFound('user');
    }
    return user;
  },

  /** The person and password hash for a login attempt (emails are unique across the installation); never a service account. */
  async findForLogin(db: Queryable, email: string): Promise<(User & { passwordHash: string | null }) | undefined> {
    const result = await db.query<Row>(`SELECT ${COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1) AND kind = 'person'`, [email]);
    const row = result.rows[0];
    return row === undefined ? undefined : { ...fromRow(row), passwordHash: row.password_hash ?? null };
  },

  /**
   * Active people of the organisation (with `role` if given; service accounts are not counted). `lock` holds their rows until commit, so
   * two transactions that each check "another one is left" before removing one cannot both pass.
   */
  async countInOrg(db: Queryable, orgId: string, role?: Role, options: { lock?: boolean } = {}): Promise<number> {
    const matching = `SELECT id FROM users WHERE org_id = $1 AND kind = 'person' AND disabled = false${role === undefined ? '' : ' AND role = $2'}`;
    const result = await db.query<{ n: number }>(
      options.lock === true ? `SELECT count(*)::int AS n FROM (${matching} ORDER BY id FOR UPDATE) AS locked` : `SELECT count(*)::int AS n FROM (${matching}) AS matching`,
      role === undefined ? [orgId] : [orgId, role],
    );
    return result.rows[0]?.n ?? 0;
  },

  /** People (the default), service accounts or both, by e-mail (a service account's handle); deleted service accounts never. */
  async list(db: Queryable, orgId: string, options: PageRequest & { search?: string | undefined; kind?: UserKindFilter | undefined }): Promise<Page<User>> {
    const params: unknown[] = [orgId];
    const where = ['org_id = $1', 'deleted_at IS NULL'];
    const kind = options.kind ?? UserKind.Person;
    if (kind !== 'all') {
      params.push(kind);
      where.push(`kind = $${params.length}`);
    }
    if (options.search !== undefined && options.search !== '') {
      where.push(foldedSearch(['email', 'name'], options.search, params));
    }
    const after = decodeCursor(options.cursor, 'string');
    if (after !== undefined) {
      params.push(after);
      where.push(`lower(email) > $${params.length}`);
    }
    params.push(options.limit + 1);
    const result = await db.query<Row>(`SELECT ${COLUMNS} FROM users WHERE ${where.join(' AND ')} ORDER BY lower(email) LIMIT $${params.length}`, params);
    return toPage(result.rows, options.limit, fromRow, (r) => r.email.toLowerCase());
  },

  async update(
    db: Queryable,
    orgId: string,
    id: string,
    expectedVersion: number,
    changes: { name?: string | undefined; role?: Role | undefined; disabled?: boolean | undefined },
  ): Promise<User> {
    const result = await db.query<Row>(
      `UPDATE users SET name = COALESCE($4, name), role = COALESCE($5, role), disabled = COALESCE($6, disabled), version = version + 1, updated_at = now()
       WHERE org_id = $1 AND id = $2 AND version = $3 RETURNING ${COLUMNS}`,
      [orgId, id, expectedVersion, changes.name ?? null, changes.role ?? null, changes.disabled ?? null],
    );
    const row = result.rows[0];
    if (row === undefined) {
      const current = await users.get(db, orgId, id);
      throw versionConflict(`user`, current.version, expectedVersion);
    }
    return fromRow(row);
  },

  /**
   * Holds the user's row until commit against a change to it (role, disabled, project roles, which
   * touch it): what the transaction then reads of the user stays true until it commits.
   */
  async lockForShare(db: Queryable, id: string): Promise<void> {
    await db.query('SELECT 1 FROM users WHERE id = $1 FOR SHARE', [id]);
  },

  /**
   * Sets the password hash. `changeRequired` also sets whether the user must replace it at their
   * next login (true for a password an administrator set, false once the user chose their own);
   * without it the flag is left as it is (a rehash of the same password).
   */
  /** A new version for a change to what the user's view shows outside its own row (their project roles). */
  async touch(db: Queryable, id: string): Promise<void> {
    await db.query('UPDATE users SET version = version + 1, updated_at = now() WHERE id = $1', [id]);
  },

  async setPassword(db: Queryable, id: string, passwordHash: string, changeRequired?: boolean): Promise<void> {
    await db.query(
      'UPDATE users SET password_hash = $2, password_change_required = COALESCE($3, password_change_required), version = version + 1, updated_at = now() WHERE id = $1',
      [id, passwordHash, changeRequired ?? null],
    );
  },

  /**
   * Changes a service account (`description` null clears it), checking its version. Its row is the
   * account's: a person is not found.
   */
  async updateServiceAccount(
    db: Queryable,
    orgId: string,
    id: string,
    expectedVersion: number,
    changes: { name?: string | undefined; description?: string | null | undefined; role?: Role | undefined; disabled?: boolean | undefined },
  ): Promise<User> {
    const result = await db.query<Row>(
      `UPDATE users SET name = COALESCE($4, name), description = CASE WHEN $5::boolean THEN $6 ELSE description END, role = COALESCE($7, role),
         disabled = COALESCE($8, disabled), version = version + 1, updated_at = now()
       WHERE org_id = $1 AND id = $2 AND version = $3 AND kind = 'service' AND deleted_at IS NULL RETURNING ${COLUMNS}`,
      [orgId, id, expectedVersion, changes.name ?? null, changes.description !== undefined, changes.description ?? null, changes.role ?? null, changes.disabled ?? null],
    );
    const row = result.rows[0];
    if (row === undefined) {
      const current = await users.get(db, orgId, id);
      throw versionConflict('service account', current.version, expectedVersion);
    }
    return fromRow(row);
  },

  /** Marks a service account deleted (and disabled): gone from lists and lookups, its row kept for the history naming it. */
  async markServiceAccountDeleted(db: Queryable, orgId: string, id: string, at: Date): Promise<void> {
    await db.query(`UPDATE users SET disabled = true, deleted_at = $3, version = version + 1, updated_at = now() WHERE org_id = $1 AND id = $2 AND kind = 'service' AND deleted_at IS NULL`, [orgId, id, at]);
  },

  /** The person with this email in any organisation (emails are unique across the installation); never a service account. */
  async findByEmail(db: Queryable, email: string): Promise<User | undefined> {
    const result = await db.query<Row>(`SELECT ${COLUMNS} FROM users WHERE lower(email) = lower($1) AND kind = 'person'`, [email]);
    const row = result.rows[0];
    return row === undefined ? undefined : fromRow(row);
  },
};

/** What SCIM provisioning keeps of a person besides the user (migration 0047). */
export interface ScimFields {
  /** The identity provider's id of the person (SCIM `externalId`), unique in the organisation; null until the IdP sends one. */
  readonly externalId: string | null;
  readonly givenName: string | null;
  readonly familyName: string | null;
}

/** A person as the SCIM endpoints see them; `scimDeletedExternalId`: the externalId they had when the IdP deleted them (migration 0048). */
export type ScimUser = User & { readonly scim: ScimFields; readonly scimDeleted: boolean; readonly scimDeletedExternalId: string | null };

interface ScimRow extends Row {
  scim_external_id: string | null;
  scim_given_name: string | null;
  scim_family_name: string | null;
  scim_deleted: boolean;
  scim_deleted_external_id: string | null;
}

const SCIM_COLUMNS = `${COLUMNS}, scim_external_id, scim_given_name, scim_family_name, (scim_deleted_at IS NOT NULL) AS scim_deleted, scim_deleted_external_id`;

function fromScimRow(r: ScimRow): ScimUser {
  return { ...fromRow(r), scim: { externalId: r.scim_external_id, givenName: r.scim_given_name, familyName: r.scim_family_name }, scimDeleted: r.scim_deleted, scimDeletedExternalId: r.scim_deleted_external_id };
}

/** The filters SCIM's GET /Users takes: one attribute compared for equality (emails case-insensitively). */
export type ScimUserFilter = { readonly attribute: 'email'; readonly value: string } | { readonly attribute: 'externalId'; readonly value: string };

/** 409 for a unique value another user holds: an email (across the installation) or an externalId (in the organisation). */
function scimUniqueness(e: unknown): never {
  if (e instanceof DatabaseError && e.code === SqlState.UniqueViolation) {
    const what = /scim_external_id/.test(e.message) ? 'externalId' : 'email';
    throw new AppError(AppErrorCode.AlreadyExists, `another user already has this ${what}`, { scimType: 'uniqueness' });
  }
  throw e;
}

/**
 * The people of SCIM provisioning (domain/scim.ts): never service accounts, and, unless asked,
 * never those the identity provider deleted (`scim_deleted_at`).
 */
export const scimUsers = {
  /** The person with this id in the organisation (a SCIM-deleted one only with `includeDeleted`); `lock` holds the row until commit. */
  async find(db: Queryable, orgId: string, id: string, options: { lock?: boolean; includeDeleted?: boolean } = {}): Promise<ScimUser | undefined> {
    const result = await db.query<ScimRow>(
      `SELECT ${SCIM_COLUMNS} FROM users WHERE org_id = $1 AND id = $2 AND kind = 'person'${options.includeDeleted === true ? '' : ' AND scim_deleted_at IS NULL'}${options.lock === true ? ' FOR UPDATE' : ''}`,
      [orgId, id],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : fromScimRow(row);
  },

  /** The person with this email in any organisation (emails are unique across the installation), SCIM-deleted or not. */
  async findByEmail(db: Queryable, email: string): Promise<ScimUser | undefined> {
    const result = await db.query<ScimRow>(`SELECT ${SCIM_COLUMNS} FROM users WHERE lower(email) = lower($1) AND kind = 'person'`, [email]);
    const row = result.rows[0];
    return row === undefined ? undefined : fromScimRow(row);
  },

  /** A page of the organisation's people (not SCIM-deleted), oldest first: `offset` rows skipped, at most `limit` (0: only the count). */
  async list(db: Queryable, orgId: string, filter: ScimUserFilter | undefined, offset: number, limit: number): Promise<{ total: number; items: ScimUser[] }> {
    const params: unknown[] = [orgId];
    const where = ["org_id = $1", "kind = 'person'", 'scim_deleted_at IS NULL'];
    if (filter !== undefined) {
      params.push(filter.value);
      where.push(filter.attribute === 'email' ? `lower(email) = lower($${params.length})` : `scim_external_id = $${params.length}`);
    }
    const total = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE ${where.join(' AND ')}`, params)).rows[0]?.n ?? 0;
    if (limit === 0) {
      return { total, items: [] };
    }
    const result = await db.query<ScimRow>(`SELECT ${SCIM_COLUMNS} FROM users WHERE ${where.join(' AND ')} ORDER BY created_at, id OFFSET $${params.length + 1} LIMIT $${params.length + 2}`, [...params, offset, limit]);
    return { total, items: result.rows.map(fromScimRow) };
  },

  /** Creates a person provisioned by the IdP: no password (they sign in with SSO), their SCIM fields set. */
  async create(db: Queryable, user: { id: string; orgId: string; email: string; name: string; role: Role; disabled: boolean; scim: ScimFields }): Promise<void> {
    try {
      await db.query(
        `INSERT INTO users (id, org_id, email, name, role, password_hash, disabled, scim_external_id, scim_given_name, scim_family_name) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9)`,
        [user.id, user.orgId, user.email, user.name, user.role, user.disabled, user.scim.externalId, user.scim.givenName, user.scim.familyName],
      );
    } catch (e) {
      scimUniqueness(e);
    }
  },

  /**
   * Sets a person's email and SCIM fields, and (`undelete`) ends their SCIM deletion; a new version
   * when anything changed. The role, name and disabled flag change through `users.update`.
   */
  async setFields(db: Queryable, id: string, fields: { email: string; scim: ScimFields; undelete?: boolean }): Promise<void> {
    try {
      await db.query(
        `UPDATE users SET email = $2, scim_external_id = $3, scim_given_name = $4, scim_family_name = $5, scim_deleted_at = CASE WHEN $6::boolean THEN NULL ELSE scim_deleted_at END,
           scim_deleted_external_id = CASE WHEN $6::boolean THEN NULL ELSE scim_deleted_external_id END,
           version = version + 1, updated_at = now()
         WHERE id = $1 AND kind = 'person' AND (email IS DISTINCT FROM $2 OR scim_external_id IS DISTINCT FROM $3 OR scim_given_name IS DISTINCT FROM $4 OR scim_family_name IS DISTINCT FROM $5 OR ($6::boolean AND scim_deleted_at IS NOT NULL))`,
        [id, fields.email, fields.scim.externalId, fields.scim.givenName, fields.scim.familyName, fields.undelete === true],
      );
    } catch (e) {
      scimUniqueness(e);
    }
  },

  /**
   * Marks a (disabled) person deleted by the IdP, and frees their externalId (a later one may be
   * another's), keeping it as `scim_deleted_external_id` to tell whether a later create is the same identity.
   */
  async markDeleted(db: Queryable, id: string, at: Date): Promise<void> {
    await db.query(`UPDATE users SET scim_deleted_at = $2, scim_deleted_external_id = scim_external_id, scim_external_id = NULL, version = version + 1, updated_at = now() WHERE id = $1 AND kind = 'person' AND disabled`, [id, at]);
  },
};
