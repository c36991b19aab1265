import { z } from 'zod';
import { ROLE_RANK, Role, keySchema, roleSchema } from '@xp/shared';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hashPassword, needsRehash, validatePasswordStrength, verifyPassword } from '../auth/passwords.js';
import type { ScryptParams } from '../auth/passwords.js';
import { Permission, assertCan, can, canAssignRole } from '../auth/permissions.js';
import { audit } from '../store/audit.js';
import type { Database, Queryable } from '../store/db.js';
import { jsonDiff } from './json-diff.js';
import { LOGIN_RATE_LIMITS } from '../auth/rate-limit.js';
import type { LoginDecision, LoginRateLimiter } from '../auth/rate-limit.js';
import { TokenKind, generateToken, hashToken, tokenPrefix } from '../auth/tokens.js';
import { AppError, AppErrorCode, forbidden, invalid, notFound, versionConflict } from '../errors.js';
import { credentials } from '../store/credentials.js';
import type { AccessToken, Principal } from '../store/credentials.js';
import type { Page, PageRequest } from '../store/pagination.js';
import { projectRoles } from '../store/project-roles.js';
import { scheduledChanges } from '../store/scheduled-changes.js';
import { tokenPolicies } from '../store/token-policy.js';
import type { TokenPolicy } from '../store/token-policy.js';
import { SERVICE_ACCOUNT_EMAIL_DOMAIN, UserKind, scimUsers, users } from '../store/users.js';
import type { User, UserKindFilter } from '../store/users.js';
import { record, recordUnauthenticated } from './audit-trail.js';
import { cancelOpenProposedBy, withdrawLapsedApprovals } from './change-requests.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';
import { parseOrThrow } from './validation.js';

export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/**
 * The policy's length limits, for the document only: the policy (`checkStrength`) refuses a password
 * outside them with its own message and code, which a zod minimum would replace.
 */
const NEW_PASSWORD_LIMITS = { minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH };

export const loginSchema = z.strictObject({
  email: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
  /**
   * The user's own new password, for a login with a password an administrator set (an invitation's
   * or a reset's), which answers 403 PASSWORD_CHANGE_REQUIRED without it. Refused otherwise.
   */
  newPassword: z.string().min(1).max(1024).meta(NEW_PASSWORD_LIMITS).optional(),
});

/** The answer to a right password for a disabled account (a wrong one gets "invalid email or password", as for any account). */
export const ACCOUNT_DISABLED_MESSAGE = 'this account is disabled; ask an administrator of your organization to enable it';

/**
 * The answer (409 INVALID_STATE) to a password change by a person who has none: created at their
 * first SSO sign-in. `sso`: the identity provider's label, when SSO is configured.
 */
export function noPasswordMessage(sso: string | undefined): string {
  return `you have no password to change: you sign in with ${sso ?? 'single sign-on'}. If you need a password as well, an administrator can set one (reset password)`;
}

/** The answer to a right login with a password an administrator set, sent without `newPassword`. */
export const PASSWORD_CHANGE_REQUIRED_MESSAGE = 'this password was set by an administrator; choose a new one: send newPassword with the login';

/**
 * A name people read in lists and in the audit log (a person's, a service account's, a token's):
 * not blank, with at least one visible character (not only spaces or zero-width ones), and without
 * what could make it read as something else there: control characters and line breaks (a forged
 * second line), line and paragraph separators (U+2028, U+2029), and the bidirectional overrides,
 * embeddings and isolates (U+202A–U+202E, U+2066–U+2069) that reorder what follows them (the
 * marks U+200E and U+200F, which reorder nothing, are allowed: right-to-left names need them). Kept
 * as sent unless `trim` (service accounts' names are trimmed). The one check of every such name:
 * extend it here.
 */
export function displayNameSchema(max: number, options: { trim?: boolean } = {}): z.ZodString {
  const text = options.trim === true ? z.string().trim() : z.string();
  return text
    .min(1, { error: 'must not be empty' })
    .max(max)
    .regex(/^[^\p{Cc}\u2028\u2029]*$/u, { error: 'must not contain control characters or line breaks' })
    .regex(/^[^\u202A-\u202E\u2066-\u2069]*$/u, { error: 'must not contain bidirectional overrides, embeddings or isolates (U+202A–U+202E, U+2066–U+2069)' })
    .regex(/[^\p{Cf}\p{Z}\s]/u, { error: 'must contain a visible character' });
}

export const inviteSchema = z.strictObject({
  email: z
    .email()
    .max(320)
    .refine((e) => !e.toLowerCase().endsWith(`@${SERVICE_ACCOUNT_EMAIL_DOMAIN}`), { error: `must not be in the service accounts' domain (…@${SERVICE_ACCOUNT_EMAIL_DOMAIN}): create a service account with POST /api/v1/service-accounts` }),
  name: displayNameSchema(200),
  role: roleSchema,
  /** Optional initial password; without one a random one is generated and returned once. */
  password: z.string().min(1).max(256).meta(NEW_PASSWORD_LIMITS).optional(),
});

export const userPatchSchema = z.strictObject({
  name: displayNameSchema(200).optional(),
  role: roleSchema.optional(),
  disabled: z.boolean().optional(),
});

/** POST /users/{id}/sessions/revoke: the body may be left out (sessions only). */
export const userSessionsRevokeSchema = z
  .strictObject({
    /** Also revoke the user's personal access tokens (scripts and CI using them stop working). */
    accessTokens: z.boolean().optional(),
  })
  .optional();

/** PUT /users/{id}/projects/{project}/role: the user's role in that project (not owner: owners are owners everywhere). */
export const projectRoleSchema = z.strictObject({
  role: roleSchema.exclude([Role.Owner], { error: 'must be admin, editor, analyst or viewer (owners are owners in every project)' }),
});

const lifetimeDaysSchema = z.number().int().min(1).max(3650).nullable();

/** PUT /organisation/token-policy: the whole policy (null: unset); the default never above the maximum. */
export const tokenPolicySchema = z
  .strictObject({
    /** The longest a token minted from now on may live, in days; null: no maximum. */
    maxLifetimeDays: lifetimeDaysSchema,
    /** The lifetime of a token minted without `expiresInDays`, in days; null: the maximum (never expiring when there is none). */
    defaultLifetimeDays: lifetimeDaysSchema,
  })
  .superRefine((p, ctx) => {
    if (p.maxLifetimeDays !== null && p.defaultLifetimeDays !== null && p.defaultLifetimeDays > p.maxLifetimeDays) {
      ctx.addIssue({ code: 'custom', path: ['defaultLifetimeDays'], message: `must be at most maxLifetimeDays (${String(p.maxLifetimeDays)})` });
    }
  });

export const tokenCreateSchema = z.strictObject({
  name: displayNameSchema(100),
  /**
   * Days until expiry; absent: the organisation's default lifetime (or its maximum), else no expiry.
   * Never past the organisation's maximum, nor past the access token the request is made with.
   */
  expiresInDays: z.number().int().min(1).max(3650).optional(),
  /** A role at or below yours; the token acts with the lower of it and your role at the time. Absent: your role, whatever it becomes. */
  role: roleSchema.optional(),
  /** Keys of the projects the token is limited to; absent: every project. */
  projects: z
    .array(keySchema)
    .min(1)
    .max(50)
    .superRefine((keys, ctx) => {
      keys.forEach((k, i) => {
        if (keys.indexOf(k) !== i) {
          ctx.addIssue({ code: 'custom', path: [i], message: `project "${k}" is listed twice` });
        }
      });
    })
    .optional(),
});

/** A role a service account may hold, in the organisation or in one project: never owner. */
const serviceAccountRoleSchema = roleSchema.exclude([Role.Owner], { error: 'must be admin, editor, analyst or viewer (a service account is never an owner)' });

const serviceAccountNameSchema = displayNameSchema(100, { trim: true });

/** Project roles of a service account: the whole list (PATCH replaces it; [] removes them all), one per project. */
const serviceAccountProjectRolesSchema = z
  .array(z.strictObject({ project: keySchema, role: serviceAccountRoleSchema }))
  .max(100)
  .superRefine((roles, ctx) => {
    const seen = new Set<string>();
    roles.forEach((r, i) => {
      if (seen.has(r.project)) {
        ctx.addIssue({ code: 'custom', path: [i, 'project'], message: `project "${r.project}" is listed twice` });
      }
      seen.add(r.project);
    });
  });

export const serviceAccountCreateSchema = z.strictObject({
  name: serviceAccountNameSchema,
  description: z.string().max(1000).optional(),
  /** Its organisation role: admin only when an owner creates it. */
  role: serviceAccountRoleSchema,
  /** Roles in single projects, in place of `role` there (higher or lower), as for people. */
  projectRoles: serviceAccountProjectRolesSchema.optional(),
});

export const serviceAccountPatchSchema = z.strictObject({
  name: serviceAccountNameSchema.optional(),
  /** An empty string removes the description. */
  description: z.string().max(1000).optional(),
  role: serviceAccountRoleSchema.optional(),
  /** Replaces its project roles ([]: none, its organisation role everywhere). */
  projectRoles: serviceAccountProjectRolesSchema.optional(),
  /** A disabled service account's tokens answer 401 until it is enabled again (they are kept, not revoked). */
  disabled: z.boolean().optional(),
});

/** How a service account is named where an e-mail names a person (the audit log's actor). */
export function serviceAccountLabel(name: string): string {
  return `${name} (service account)`;
}

/** The audit log's actor for a user: a person's e-mail, a service account's label (its `email` is a handle nobody reads). */
export function actorEmail(user: { readonly kind?: string | undefined; readonly email: string; readonly name: string }): string {
  return user.kind === UserKind.Service ? serviceAccountLabel(user.name) : user.email;
}

/** Whether `actorRole` may give a service account `role`: owners any; admins a role below their own (an admin robot outlives whoever made it, so owners decide). */
export function canGrantServiceAccountRole(actorRole: Role, role: Role): boolean {
  return can(actorRole, Permission.UsersManage) && (actorRole === Role.Owner || ROLE_RANK[role] < ROLE_RANK[actorRole]);
}

export const passwordChangeSchema = z.strictObject({
  currentPassword: z.string().min(1).max(1024),
  newPassword: z.string().min(1).max(1024).meta(NEW_PASSWORD_LIMITS),
  /** Also revoke all your personal access tokens (your other sessions always end). */
  revokeAccessTokens: z.boolean().optional(),
});

/** How far back failed logins can still count against an account (the longest login limit window). */
const LOCKOUT_WINDOW_MS = Math.max(...Object.values(LOGIN_RATE_LIMITS).map((l) => l.windowMs));

export interface AccountsOptions {
  readonly limiter: LoginRateLimiter;
  /** Lower scrypt cost in tests; production uses the default. */
  readonly scrypt?: ScryptParams;
}

/** The lower of a user's role and a token's role limit (null: none). */
export function lowerOf(userRole: Role, tokenRole: Role | null | undefined): Role {
  return tokenRole !== null && tokenRole !== undefined && ROLE_RANK[tokenRole] < ROLE_RANK[userRole] ? tokenRole : userRole;
}

/**
 * The actor of a credential: a token acts with the lower of its role and its user's, within its
 * projects. `role` is the organisation's; the user's project roles are applied per request by
 * `actorInProject` (owners have none: they are owners everywhere).
 */
function actorOf(p: Principal, client: string): Actor {
  const role = lowerOf(p.role, p.tokenRole);
  const limited = p.via === 'token' && (p.tokenRole !== null || p.tokenProjectIds !== null);
  const projectRoles = p.role === Role.Owner || p.projectRoles.length === 0 ? undefined : new Map(p.projectRoles.map((r) => [r.project, r.role]));
  return {
    userId: p.userId,
    orgId: p.orgId,
    // The audit log's actor: a service account by its name (its `email` is a handle nobody reads).
    email: actorEmail(p),
    role,
    client,
    ...(p.tokenRole === null ? {} : { tokenRole: p.tokenRole }),
    ...(p.tokenProjectIds === null ? {} : { projectIds: new Set(p.tokenProjectIds) }),
    ...(limited ? { limitedTokenId: p.credentialId } : {}),
    ...(projectRoles === undefined ? {} : { projectRoles }),
    // Recorded in the audit log (audit-trail.ts): the session's or token's id and a token's display prefix, never a secret.
    credential: p.via === 'token' ? { kind: 'token', id: p.credentialId, ...(p.credentialPrefix === undefined ? {} : { prefix: p.credentialPrefix }) } : { kind: 'session', id: p.credentialId },
  };
}

/**
 * The actor as it acts in one project (by key): with the user's role there (their project role when
 * one is set, else their organisation role), never above a token's role limit. The actor itself when
 * the user has no project roles (the common case) or none in this project: no lookup at all.
 * Applied by the API to every request under /api/v1/projects/{project} before any permission check.
 */
export function actorInProject(actor: Actor, projectKey: string): Actor {
  const projectRole = actor.projectRoles?.get(projectKey);
  if (projectRole === undefined) {
    return actor;
  }
  const role = lowerOf(projectRole, actor.tokenRole);
  // Named as the project's role only when it is that (a token's role limit may be lower still).
  return { ...actor, role, ...(role === projectRole ? { roleProject: projectKey } : {}) };
}

function checkStrength(password: string, user: { email: string; name: string }, field = 'password'): void {
  const problems = validatePasswordStrength(password, user);
  if (problems.length > 0) {
    throw invalid(`${field === 'password' ? 'password' : field} too weak: ${problems.map((p) => p.message).join('; ')}`, { issues: problems.map((p) => ({ path: field, message: p.message, code: p.code })) });
  }
}

function rateLimited(retryAfterSeconds: number, message = 'too many failed logins; try again later'): AppError {
  return new AppError(AppErrorCode.RateLimited, message, { retryAfterSeconds });
}

/** Generates a strong password for invited users; shown once. */
function randomPassword(): string {
  return generateToken(TokenKind.Session).slice(4, 28);
}

/** The resource key of failed-login entries for an email that belongs to no user. */
export const UNKNOWN_USER_KEY = '(unknown)';

/** What deleting a service account ended besides it: the DELETE's answer and its audit entry. */
export interface ServiceAccountDeletion {
  readonly tokensRevoked: number;
  /** Its open change requests, cancelled (they could only fail once it is gone). */
  readonly changeRequestsCancelled: number;
  /** Its scheduled changes not applied yet, cancelled. */
  readonly scheduledChangesCancelled: number;
}

/** Live (unrevoked, unexpired) personal access tokens one user may hold. */
export const MAX_LIVE_TOKENS = 100;

const DAY_MS = 86_400_000;

/** PUT /organisation/token-policy's answer: the policy, and how many live tokens outlast its maximum (they are not changed). */
export interface TokenPolicyUpdate {
  readonly policy: TokenPolicy;
  readonly liveTokensExceedingMax: number;
}

export class AccountService {
  // A real hash to verify against for unknown emails, so timing does not reveal which emails exist.
  #dummyHash: Promise<string> | undefined;
  // The organisation that records failed logins of unknown emails (the installation's first).
  #firstOrg: Promise<string | undefined> | undefined;

  constructor(
    private readonly deps: Deps,
    private readonly options: AccountsOptions,
  ) {}

  private hash(password: string): Promise<string> {
    return this.options.scrypt === undefined ? hashPassword(password) : hashPassword(password, this.options.scrypt);
  }

  async login(input: unknown, meta: { ip: string; client: string }): Promise<{ token: string; expiresAt: string; user: User }> {
    const { email, password, newPassword } = parseOrThrow(loginSchema, input, 'login');
    const attempt = { email, ip: meta.ip };
    // Counted as a failure before the (slow) password check, atomically, so a concurrent burst cannot
    // have more guesses checked than the limit; a right password takes the count back.
    const admission = await this.options.limiter.admit(attempt);
    if (!admission.allowed) {
      throw rateLimited(admission.retryAfterSeconds);
    }
    const user = await users.findForLogin(this.deps.db, email);
    // A refused computation (too many sign-ins at once) is not kept: the next sign-in computes it again.
    this.#dummyHash ??= this.hash('not-a-real-password-for-timing').catch((e: unknown) => {
      this.#dummyHash = undefined;
      throw e;
    });
    const ok = await verifyPassword(password, user?.passwordHash ?? (await this.#dummyHash));
    if (user === undefined || user.passwordHash === null || !ok || user.disabled) {
      // Only a caller who knows the password learns that the account is disabled (else they would
      // reset or retype it in vain); a wrong one gets the answer every wrong password gets. Either way
      // the login fails and counts against the limiter as any failure does.
      const rightButDisabled = user !== undefined && user.passwordHash !== null && ok && user.disabled;
      const after = await admission.failed();
      this.deps.logger.warn('login failed', { ip: meta.ip });
      await this.recordFailedLogin(user, meta, after, rightButDisabled ? 'account-disabled' : false);
      if (rightButDisabled) {
        throw new AppError(AppErrorCode.AccountDisabled, ACCOUNT_DISABLED_MESSAGE);
      }
      if (!after.allowed) {
        throw rateLimited(after.retryAfterSeconds);
      }
      throw new AppError(AppErrorCode.Unauthenticated, 'invalid email or password');
    }
    await admission.succeeded();
    // Only after the right password (a wrong one answers as above, so no account is revealed):
    // with SSO enforced, only owners sign in with a password (break-glass).
    const sso = this.deps.sso;
    if (sso?.enforced === true && user.role !== Role.Owner) {
      // A failed login in the audit log, told apart from a wrong password; the limiter already took
      // the attempt back (the password was right), so no lockout can follow from it.
      await this.recordFailedLogin(user, meta, { allowed: true, retryAfterSeconds: 0, refusedBy: [] }, 'sso-required');
      throw new AppError(AppErrorCode.SsoRequired, `this organisation signs in with ${sso.name}: use Sign in with ${sso.name}`);
    }
    // Only after the right password: the answers below say whether an administrator set it.
    if (user.passwordChangeRequired && newPassword === undefined) {
      throw new AppError(AppErrorCode.PasswordChangeRequired, PASSWORD_CHANGE_REQUIRED_MESSAGE);
    }
    if (!user.passwordChangeRequired && newPassword !== undefined) {
      throw invalid('newPassword is only for a password an administrator set; change yours with PUT /api/v1/me/password', {
        issues: [{ path: 'newPassword', message: 'only for a password an administrator set', code: 'not_required' }],
      });
    }
    let newHash: string | undefined;
    if (newPassword !== undefined) {
      checkStrength(newPassword, user, 'newPassword');
      if (newPassword === password) {
        throw invalid('newPassword must differ from the password the administrator set', { issues: [{ path: 'newPassword', message: 'must differ from the current password', code: 'SAME_AS_CURRENT' }] });
      }
      newHash = await this.hash(newPassword);
    } else if (needsRehash(user.passwordHash, this.options.scrypt)) {
      await users.setPassword(this.deps.db, user.id, await this.hash(password));
    }
    const token = generateToken(TokenKind.Session);
    const expiresAt = new Date(this.deps.now().getTime() + SESSION_TTL_MS);
    // The login's entries name the session it creates, and the address it came from.
    const sessionId = this.deps.newId();
    const actor = { ...actorOf({ ...user, userId: user.id, credentialId: sessionId, via: 'session', tokenRole: null, tokenProjectIds: null }, meta.client), ip: meta.ip };
    const changed = await this.deps.db.withTransaction(async (tx) => {
      let after: User | undefined;
      if (newHash !== undefined) {
        // Two first logins at once with the same given password: only the first chooses.
        const still = await tx.query<{ password_change_required: boolean }>('SELECT password_change_required FROM users WHERE id = $1 FOR UPDATE', [user.id]);
        if (still.rows[0]?.password_change_required !== true) {
          throw new AppError(AppErrorCode.Unauthenticated, 'invalid email or password');
        }
        // The user's own password from now on; nothing made with the administrator's may outlive it.
        await users.setPassword(tx, user.id, newHash, false);
        const sessionsRevoked = await credentials.revokeOtherSessions(tx, user.id, null);
        const accessTokensRevoked = await credentials.revokeAccessTokensForUser(tx, user.id);
        await record(tx, actor, { projectId: null, action: 'user.password-changed', resourceType: 'user', resourceKey: user.id, before: undefined, after: { sessionsRevoked, accessTokensRevoked, atLogin: true } });
        after = await users.get(tx, user.orgId, user.id);
      }
      await credentials.createSession(tx, { id: sessionId, userId: user.id, tokenHash: hashToken(token), client: meta.client, expiresAt });
      await record(tx, actor, {
        projectId: null,
        action: 'user.logged-in',
        resourceType: 'user',
        resourceKey: user.id,
        before: undefined,
        after: undefined,
      });
      return after;
    });
    const { passwordHash: _omit, ...publicUser } = user;
    return { token, expiresAt: expiresAt.toISOString(), user: changed ?? publicUser };
  }

  /**
   * Audits a failed login (`user.login-failed`: the client address, the email only when it is a
   * user's, `accountDisabled` when the password was right but the account is disabled, `ssoRequired`
   * when it was right but SSO is enforced for a non-owner) and, when it made the limiter refuse the
   * next attempts, `user.locked-out`. Refused attempts (429) are not recorded, so the limiter bounds
   * the entries of wrong passwords (those of a right one need the password, as a login's do). A failure to record is logged and does not change
   * the answer.
   *
   * A wrong current password of a password change (`PUT /me/password`) counts as a failed login and
   * is recorded the same way, with `via: 'password-change'` and the signed-in user as the actor
   * (`actor`): the request was authenticated, only the password check failed.
   */
  private async recordFailedLogin(
    user: Pick<User, 'id' | 'orgId' | 'email'> | undefined,
    meta: { ip: string; client: string },
    after: LoginDecision,
    rightPassword: false | 'account-disabled' | 'sso-required' = false,
    actor?: Actor,
  ): Promise<void> {
    try {
      this.#firstOrg ??= this.deps.db.query<{ id: string }>('SELECT id FROM organizations ORDER BY created_at, id LIMIT 1').then((r) => r.rows[0]?.id);
      const orgId = user?.orgId ?? (await this.#firstOrg);
      if (orgId === undefined) {
        return;
      }
      const who = { ...(user === undefined ? {} : { email: user.email }), ip: meta.ip, ...(actor === undefined ? {} : { via: 'password-change' }) };
      const resourceKey = user?.id ?? UNKNOWN_USER_KEY;
      const common = { orgId, client: meta.client, ip: meta.ip, resourceType: 'user', resourceKey } as const;
      const failed = rightPassword === 'account-disabled' ? { ...who, accountDisabled: true } : rightPassword === 'sso-required' ? { ...who, ssoRequired: true } : who;
      const locked = { ...who, limits: after.refusedBy, retryAfterSeconds: after.retryAfterSeconds };
      await this.deps.db.withTransaction(async (tx) => {
        if (actor === undefined) {
          await recordUnauthenticated(tx, { ...common, action: 'user.login-failed', after: failed });
        } else {
          await record(tx, actor, { projectId: null, action: 'user.login-failed', resourceType: 'user', resourceKey, before: undefined, after: failed });
        }
        if (!after.allowed) {
          if (actor === undefined) {
            await recordUnauthenticated(tx, { ...common, action: 'user.locked-out', after: locked });
          } else {
            await record(tx, actor, { projectId: null, action: 'user.locked-out', resourceType: 'user', resourceKey, before: undefined, after: locked });
          }
        }
      });
    } catch (e) {
      this.#firstOrg = undefined;
      this.deps.logger.error('failed login not audited', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** The actor behind a bearer token (session or personal access token), or 401. */
  async authenticate(token: string | undefined, client: string): Promise<Actor> {
    if (token === undefined) {
      throw new AppError(AppErrorCode.Unauthenticated, 'missing bearer token');
    }
    const principal = await credentials.findPrincipal(this.deps.db, hashToken(token), this.deps.now());
    if (principal === undefined) {
      throw new AppError(AppErrorCode.Unauthenticated, 'invalid or expired token');
    }
    return actorOf(principal, client);
  }

  /**
   * Ends the credential the request was made with: the session, or the personal access token (which
   * is revoked, as `DELETE /me/tokens/{id}` would, so "logout" never answers success for a token
   * that keeps working).
   */
  async logout(actor: Actor, token: string): Promise<void> {
    const current = await credentials.findCredential(this.deps.db, hashToken(token), this.deps.now());
    if (current?.via === 'token') {
      await this.revokeToken(actor, current.id);
      return;
    }
    await this.deps.db.withTransaction(async (tx) => {
      // Audited as `user.logged-out` (the counterpart of `user.logged-in`) when it ended a session:
      // a second logout with the same token (raced) changes nothing and is not recorded again.
      if (await credentials.revokeSession(tx, hashToken(token))) {
        await record(tx, actor, { projectId: null, action: 'user.logged-out', resourceType: 'user', resourceKey: actor.userId, before: undefined, after: undefined });
      }
    });
  }

  /** Ends the caller's other sessions (all of them when called with a personal access token). */
  async revokeOtherSessions(actor: Actor, token: string | undefined): Promise<{ revoked: number }> {
    assertCan(actor, Permission.OwnTokensManage);
    if (actor.limitedTokenId !== undefined) {
      throw new AppError(AppErrorCode.Forbidden, 'this access token is limited to a role or to projects, so it cannot end your sessions; use a session or a token without limits', { permission: Permission.OwnTokensManage });
    }
    const current = token === undefined ? undefined : await credentials.findCredential(this.deps.db, hashToken(token), this.deps.now());
    return this.deps.db.withTransaction(async (tx) => {
      const revoked = await credentials.revokeOtherSessions(tx, actor.userId, current?.via === 'session' ? current.id : null);
      await record(tx, actor, { projectId: null, action: 'user.sessions-revoked', resourceType: 'user', resourceKey: actor.userId, before: undefined, after: { revoked } });
      return { revoked };
    });
  }

  async me(actor: Actor): Promise<User> {
    return users.get(this.deps.db, actor.orgId, actor.userId);
  }

  /**
   * Changes the caller's password after checking the current one (throttled like a login from the
   * request's IP, so a stolen session cannot brute-force it). Every other session of the user ends;
   * personal access tokens stay unless `revokeAccessTokens` is true.
   */
  async changePassword(actor: Actor, input: unknown, meta: { token: string | undefined; ip: string }): Promise<{ sessionsRevoked: number; accessTokensRevoked: number }> {
    if (await this.isServiceAccount(actor)) {
      throw forbidden('a service account has no password');
    }
    if (actor.limitedTokenId !== undefined) {
      // Changing the password ends every session (and, if asked, every token) of the account: wider than the token.
      throw new AppError(AppErrorCode.Forbidden, 'this access token is limited to a role or to projects, so it cannot change your password; use a session or a token without limits');
    }
    const user = await users.findForLogin(this.deps.db, actor.email);
    if (user !== undefined && user.id === actor.userId && user.passwordHash === null) {
      // Created at their first SSO sign-in: there is no current password to check (whatever the body
      // holds). Said as it is: not as a wrong password, and not counted as a failed login.
      throw new AppError(AppErrorCode.InvalidState, noPasswordMessage(this.deps.sso?.name), { hasPassword: false });
    }
    const { currentPassword, newPassword, revokeAccessTokens } = parseOrThrow(passwordChangeSchema, input, 'password change');
    const admission = await this.options.limiter.admit({ email: actor.email, ip: meta.ip });
    if (!admission.allowed) {
      throw rateLimited(admission.retryAfterSeconds, 'too many wrong passwords; try again later');
    }
    if (user?.passwordHash === null || user === undefined || !(await verifyPassword(currentPassword, user.passwordHash))) {
      const after = await admission.failed();
      this.deps.logger.warn('password change: current password wrong', { ip: meta.ip });
      // Audited as the failed login it counts as (and as the lockout it may cause), so the history
      // of the account shows it, and lifting the lockout finds the address it came from.
      await this.recordFailedLogin({ id: actor.userId, orgId: actor.orgId, email: actor.email }, { ip: meta.ip, client: actor.client }, after, false, actor);
      if (!after.allowed) {
        throw rateLimited(after.retryAfterSeconds, 'too many wrong passwords; try again later');
      }
      throw new AppError(AppErrorCode.Unauthenticated, 'current password is wrong');
    }
    await admission.succeeded();
    checkStrength(newPassword, user, 'newPassword');
    if (newPassword === currentPassword) {
      throw invalid('newPassword must differ from the current password', { issues: [{ path: 'newPassword', message: 'must differ from the current password', code: 'SAME_AS_CURRENT' }] });
    }
    const current = meta.token === undefined ? undefined : await credentials.findCredential(this.deps.db, hashToken(meta.token), this.deps.now());
    const passwordHash = await this.hash(newPassword);
    return this.deps.db.withTransaction(async (tx) => {
      await users.setPassword(tx, user.id, passwordHash);
      const sessionsRevoked = await credentials.revokeOtherSessions(tx, user.id, current?.via === 'session' ? current.id : null);
      const accessTokensRevoked = revokeAccessTokens === true ? await credentials.revokeAccessTokensForUser(tx, user.id) : 0;
      await record(tx, actor, { projectId: null, action: 'user.password-changed', resourceType: 'user', resourceKey: user.id, before: undefined, after: { sessionsRevoked, accessTokensRevoked } });
      return { sessionsRevoked, accessTokensRevoked };
    });
  }

  /**
   * Creates a personal access token. Made with another access token, the new one never outlives its
   * creator (`mintExpiry`: asking for longer, or for no expiry, is refused), and revoking the creator
   * revokes it too.
   */
  async createToken(actor: Actor, input: unknown, creatorToken?: string): Promise<{ token: string; accessToken: AccessToken }> {
    assertCan(actor, Permission.OwnTokensManage);
    if (await this.isServiceAccount(actor)) {
      // Else a leaked token could keep the account's access alive past its own revocation.
      throw forbidden('a service account cannot create tokens for itself: an administrator mints them (POST /api/v1/service-accounts/{id}/tokens)');
    }
    const { name, expiresInDays, role, projects: projectKeys } = parseOrThrow(tokenCreateSchema, input, 'access token');
    // Never more than the credential it is made with: the role it acts with, the projects it is limited to.
    if (role !== undefined && ROLE_RANK[role] > ROLE_RANK[actor.role]) {
      throw new AppError(AppErrorCode.Forbidden, `a token cannot have a higher role than the one you act with (${actor.role}); ask for ${actor.role} or lower`, { permission: Permission.OwnTokensManage });
    }
    const projectIds = projectKeys === undefined ? (actor.projectIds === undefined ? null : [...actor.projectIds].sort()) : await this.projectIdsOf(actor, projectKeys);
    const creator = creatorToken === undefined ? undefined : await credentials.findCredential(this.deps.db, hashToken(creatorToken), this.deps.now());
    const token = generateToken(TokenKind.PersonalAccess);
    const accessToken = await this.deps.db.withTransaction(async (tx) => {
      const expiresAt = await this.mintExpiry(tx, actor, expiresInDays);
      // A bound on live tokens per user: a script (or a leaked token) minting them in a loop. The
      // user's row is locked first, so creations sent together are counted one after the other.
      await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [actor.userId]);
      const live = await credentials.countLiveAccessTokens(tx, actor.userId, this.deps.now());
      if (live >= MAX_LIVE_TOKENS) {
        throw new AppError(AppErrorCode.InvalidState, `you have ${String(live)} live access tokens, the most one user may hold; revoke the ones you no longer use (DELETE /api/v1/me/tokens/{id})`);
      }
      const parentId = creator?.via === 'token' ? creator.id : null;
      // A token made with a token that has a role keeps that role, even when none is asked for: it
      // must not follow the user above it later.
      const tokenRole = role ?? actor.tokenRole ?? null;
      const created = await credentials.createAccessToken(tx, { id: this.deps.newId(), userId: actor.userId, name, tokenHash: hashToken(token), prefix: tokenPrefix(token), expiresAt, parentId, createdBy: actor.userId, role: tokenRole, projectIds });
      await record(tx, actor, {
        projectId: null,
        action: 'token.created',
        resourceType: 'access-token',
        resourceKey: created.id,
        before: undefined,
        after: { name, prefix: created.prefix, ...(created.role === null ? {} : { role: created.role }), ...(created.projects === null ? {} : { projects: created.projects }) },
      });
      return created;
    });
    return { token, accessToken };
  }

  /**
   * When a token `actor` mints now expires (null: never): `expiresInDays` from now, else the
   * organisation's default lifetime, else its maximum, else never. Refused (400 naming
   * `expiresInDays`) when longer than the organisation's maximum, or, for a request made with an
   * access token (not a session), when it would outlive that token: a leaked short-lived token must
   * not mint a lasting one. Call in the minting transaction.
   */
  private async mintExpiry(db: Queryable, actor: Actor, expiresInDays: number | undefined): Promise<Date | null> {
    const now = this.deps.now();
    const policy = await tokenPolicies.get(db, actor.orgId);
    const max = policy.maxLifetimeDays;
    if (expiresInDays !== undefined && max !== null && expiresInDays > max) {
      throw invalid(`the organisation's token policy allows tokens of at most ${String(max)} days: ask for expiresInDays of ${String(max)} or fewer (an owner sets the policy: PUT /api/v1/organisation/token-policy)`, {
        issues: [{ path: 'expiresInDays', message: `at most ${String(max)} days (the organisation's token policy)`, code: 'TOKEN_POLICY_MAX' }],
      });
    }
    const days = expiresInDays ?? policy.defaultLifetimeDays ?? max;
    const expiresAt = days === null ? null : new Date(now.getTime() + days * DAY_MS);
    if (actor.credential?.kind !== 'token') {
      return expiresAt;
    }
    const cap = await credentials.accessTokenExpiry(db, actor.credential.id);
    if (cap === undefined || cap === null || (expiresAt !== null && expiresAt <= cap)) {
      return expiresAt;
    }
    const latest = cap.toISOString();
    const wholeDays = Math.floor((cap.getTime() - now.getTime()) / DAY_MS);
    const asked = expiresInDays !== undefined ? `${String(expiresInDays)} days` : days === null ? 'no expiry' : `the organisation's default of ${String(days)} days`;
    const advice = wholeDays >= 1 ? `ask for expiresInDays of at most ${String(wholeDays)}` : 'it has less than a day left, so mint the token from a console session or with a longer-lived token';
    throw invalid(`a token minted with an access token cannot outlive it: the token this request is made with expires at ${latest}, the latest allowed expiry, and ${asked} would go past it; ${advice}`, {
      issues: [{ path: 'expiresInDays', message: `must not go past ${latest}, when the access token this request is made with expires`, code: 'OUTLIVES_CREDENTIAL' }],
    });
  }

  /** The organisation's token policy and its version (anyone signed in may read it: it says what their mints get). */
  async tokenPolicy(actor: Actor): Promise<TokenPolicy> {
    assertCan(actor, Permission.Read);
    return tokenPolicies.get(this.deps.db, actor.orgId);
  }

  /**
   * Sets the organisation's token policy (owners), from the version read (If-Match): another owner's
   * change since is a 409 with the current version, even when this one would change nothing. It
   * applies to tokens minted from now on: existing tokens keep their expiry, and the answer counts
   * the live ones that outlast the new maximum, so the owner can revoke them. A change makes a new
   * version and is audited as organization.token-policy-updated; a PUT that changes nothing neither.
   */
  async setTokenPolicy(actor: Actor, input: unknown, expectedVersion: number): Promise<TokenPolicyUpdate> {
    assertCan(actor, Permission.OrgSettingsManage);
    const next = parseOrThrow(tokenPolicySchema, input, 'token policy');
    return this.deps.db.withTransaction(async (tx) => {
      const current = await tokenPolicies.lock(tx, actor.orgId);
      if (current.version !== expectedVersion) {
        throw versionConflict('the token policy', current.version, expectedVersion);
      }
      const changed = current.maxLifetimeDays !== next.maxLifetimeDays || current.defaultLifetimeDays !== next.defaultLifetimeDays;
      const policy = changed ? await tokenPolicies.set(tx, actor.orgId, next) : current;
      const liveTokensExceedingMax = policy.maxLifetimeDays === null ? 0 : await tokenPolicies.countExceeding(tx, actor.orgId, policy.maxLifetimeDays, this.deps.now());
      if (changed) {
        const before = { maxLifetimeDays: current.maxLifetimeDays, defaultLifetimeDays: current.defaultLifetimeDays };
        const after = { maxLifetimeDays: policy.maxLifetimeDays, defaultLifetimeDays: policy.defaultLifetimeDays, liveTokensExceedingMax };
        await record(tx, actor, { projectId: null, action: 'organization.token-policy-updated', resourceType: 'organization', resourceKey: actor.orgId, before, after });
      }
      return { policy, liveTokensExceedingMax };
    });
  }

  /** The ids of the named projects, each one the actor may see (else 404, as for a project that does not exist). */
  private async projectIdsOf(actor: Actor, keys: readonly string[]): Promise<string[]> {
    const ids = new Set<string>();
    for (const key of new Set(keys)) {
      ids.add((await projectFor(this.deps.db, actor, key)).id);
    }
    return [...ids].sort();
  }

  /** The user's tokens; for a limited token, itself and the tokens made with it (the user's others are not its business). */
  async listTokens(actor: Actor): Promise<AccessToken[]> {
    assertCan(actor, Permission.OwnTokensManage);
    const all = await credentials.listAccessTokens(this.deps.db, actor.userId);
    if (actor.limitedTokenId === undefined) {
      return all;
    }
    const own = new Set(await credentials.accessTokenTree(this.deps.db, actor.userId, actor.limitedTokenId));
    return all.filter((t) => own.has(t.id));
  }

  async revokeToken(actor: Actor, id: string): Promise<AccessToken> {
    assertCan(actor, Permission.OwnTokensManage);
    // A limited token revokes itself and what it made, never the user's wider credentials: the others are not found.
    if (actor.limitedTokenId !== undefined && !(await credentials.accessTokenTree(this.deps.db, actor.userId, actor.limitedTokenId)).includes(id)) {
      throw notFound('access token');
    }
    return this.deps.db.withTransaction(async (tx) => {
      const { token, revokedNow, descendants } = await credentials.revokeAccessToken(tx, actor.userId, id);
      // Revoking again changes nothing, and is not recorded again (as for SDK keys). The entry names
      // the token as token.created did, and says how many tokens made with it went too.
      if (revokedNow || descendants > 0) {
        await record(tx, actor, {
          projectId: null,
          action: 'token.revoked',
          resourceType: 'access-token',
          resourceKey: id,
          before: undefined,
          after: { name: token.name, prefix: token.prefix, ...(descendants === 0 ? {} : { tokensMadeWithItRevoked: descendants }) },
        });
      }
      return token;
    });
  }

  async listUsers(actor: Actor, options: PageRequest & { search?: string | undefined; kind?: UserKindFilter | undefined }): Promise<Page<User>> {
    assertCan(actor, Permission.Read);
    return users.list(this.deps.db, actor.orgId, options);
  }

  async getUser(actor: Actor, id: string): Promise<User> {
    assertCan(actor, Permission.Read);
    return users.get(this.deps.db, actor.orgId, id);
  }

  /** Creates a user; returns the initial password once when none was given. */
  async invite(actor: Actor, input: unknown): Promise<{ user: User; initialPassword?: string }> {
    assertCan(actor, Permission.UsersManage);
    const data = parseOrThrow(inviteSchema, input, 'user');
    // Whether or not a password is sent, the caller learns one (theirs, or initialPassword).
    await this.refuseServiceAccountActor(actor, 'add people');
    if (!canAssignRole(actor.role, undefined, data.role)) {
      throw forbidden(`${withArticle(actor.role)} cannot grant the ${data.role} role`);
    }
    const password = data.password ?? randomPassword();
    if (data.password !== undefined) {
      checkStrength(password, data);
    }
    const passwordHash = await this.hash(password);
    const user = await this.deps.db.withTransaction(async (tx) => {
      // The administrator knows this password: the user must replace it at their first login.
      const created = await users.create(tx, { id: this.deps.newId(), orgId: actor.orgId, email: data.email, name: data.name, role: data.role, passwordHash, passwordChangeRequired: true });
      await record(tx, actor, { projectId: null, action: 'user.created', resourceType: 'user', resourceKey: created.id, before: undefined, after: { email: created.email, name: created.name, role: created.role } });
      return created;
    });
    return data.password === undefined ? { user, initialPassword: password } : { user };
  }

  /**
   * Sets a generated temporary password on another user (returned once), which they must replace at
   * their next login; all their sessions and personal access tokens end. Only on users the caller
   * may manage (an admin not on an owner), never on oneself (PUT /me/password is for that).
   */
  async resetPassword(actor: Actor, id: string): Promise<{ user: User; temporaryPassword: string }> {
    assertCan(actor, Permission.UsersManage);
    if (id === actor.userId) {
      throw forbidden('you cannot reset your own password; change it with PUT /api/v1/me/password');
    }
    await this.refuseServiceAccountActor(actor, 'reset a password');
    const target = await users.get(this.deps.db, actor.orgId, id);
    refuseServiceAccount(target, 'has no password');
    if (!canAssignRole(actor.role, target.role, target.role)) {
      throw forbidden(`${withArticle(actor.role)} cannot reset the password of ${withArticle(target.role)}`);
    }
    const temporaryPassword = randomPassword();
    const passwordHash = await this.hash(temporaryPassword);
    const result = await this.deps.db.withTransaction(async (tx) => {
      // Read again in the transaction: the role may have changed since.
      const current = await users.get(tx, actor.orgId, id);
      if (!canAssignRole(actor.role, current.role, current.role)) {
        throw forbidden(`${withArticle(actor.role)} cannot reset the password of ${withArticle(current.role)}`);
      }
      const revoked = await setTemporaryPassword(tx, id, passwordHash);
      await record(tx, actor, { projectId: null, action: 'user.password-reset', resourceType: 'user', resourceKey: id, before: undefined, after: { email: current.email, ...revoked } });
      return { user: await users.get(tx, actor.orgId, id), temporaryPassword };
    });
    // A user locked out by their own failed attempts could not sign in with the new password either.
    // The reset is committed: a failure here must not lose the temporary password shown only now.
    await this.forgiveFailedLogins(actor.orgId, result.user).catch((e: unknown) => {
      this.deps.logger.warn('password reset: the login lockout was not lifted', { userId: id, error: e instanceof Error ? e.message : String(e) });
    });
    return result;
  }

  /**
   * Lifts a user's login lockout (the failures counted against their email, from any address), so
   * they can sign in again before it would run out. Only on users the caller may manage (an admin
   * not on an owner). Audited as `user.unlocked` with the number of addresses forgiven.
   */
  async unlockUser(actor: Actor, id: string): Promise<{ user: User; addresses: number }> {
    assertCan(actor, Permission.UsersManage);
    const target = await users.get(this.deps.db, actor.orgId, id);
    refuseServiceAccount(target, 'never signs in, so it is never locked out');
    if (!canAssignRole(actor.role, target.role, target.role)) {
      throw forbidden(`${withArticle(actor.role)} cannot unlock ${withArticle(target.role)}`);
    }
    const addresses = await this.forgiveFailedLogins(actor.orgId, target);
    await record(this.deps.db, actor, { projectId: null, action: 'user.unlocked', resourceType: 'user', resourceKey: id, before: undefined, after: { email: target.email, addresses } });
    return { user: target, addresses };
  }

  /**
   * Signs a user out everywhere (a lost laptop, a leaked session) without disabling them or resetting
   * their password: all their sessions end and, with `accessTokens: true`, their personal access
   * tokens too. Only on users the caller may manage (an admin not on an owner); on oneself it is
   * "sign out everywhere", the current session included. Audited as `user.sessions-revoked`.
   */
  async revokeUserSessions(actor: Actor, id: string, input: unknown): Promise<{ sessionsRevoked: number; accessTokensRevoked: number }> {
    assertCan(actor, Permission.UsersManage);
    const { accessTokens } = parseOrThrow(userSessionsRevokeSchema, input, 'sessions revoke') ?? {};
    return this.deps.db.withTransaction(async (tx) => {
      const target = await users.get(tx, actor.orgId, id);
      refuseServiceAccount(target, 'has no sessions; revoke its tokens with DELETE /api/v1/service-accounts/{id}/tokens/{tokenId}, or disable it with PATCH /api/v1/service-accounts/{id}');
      if (id !== actor.userId && !canAssignRole(actor.role, target.role, target.role)) {
        throw forbidden(`${withArticle(actor.role)} cannot sign out ${withArticle(target.role)}`);
      }
      const sessionsRevoked = await credentials.revokeOtherSessions(tx, id, null);
      const accessTokensRevoked = accessTokens === true ? await credentials.revokeAccessTokensForUser(tx, id) : 0;
      await record(tx, actor, {
        projectId: null,
        action: 'user.sessions-revoked',
        resourceType: 'user',
        resourceKey: id,
        before: undefined,
        after: { email: target.email, sessionsRevoked, accessTokensRevoked, byAdministrator: id !== actor.userId },
      });
      return { sessionsRevoked, accessTokensRevoked };
    });
  }

  /** Forgets the login failures counted against a user (see `unlockUser`); answers how many addresses they came from. */
  private async forgiveFailedLogins(orgId: string, user: Pick<User, 'id' | 'email'>): Promise<number> {
    const since = new Date(this.deps.now().getTime() - LOCKOUT_WINDOW_MS);
    const ips = await audit.loginFailureAddresses(this.deps.db, orgId, user.id, since);
    await this.options.limiter.unlock(user.email, ips);
    return ips.length;
  }

  async updateUser(actor: Actor, id: string, input: unknown, expectedVersion: number): Promise<User> {
    assertCan(actor, Permission.UsersManage);
    const patch = parseOrThrow(userPatchSchema, input, 'user');
    return this.deps.db.withTransaction(async (tx) => {
      const current = await users.get(tx, actor.orgId, id);
      refuseServiceAccount(current, 'is changed with PATCH /api/v1/service-accounts/{id}');
      if (id === actor.userId) {
        // As the console offers neither: disabling yourself logs you out for good, and an admin could
        // lock the organisation out of its last administration by changing their own role.
        if (patch.disabled !== undefined && patch.disabled !== current.disabled) {
          throw forbidden('you cannot disable yourself; ask another admin or an owner');
        }
        if (patch.role !== undefined && patch.role !== current.role) {
          throw forbidden('you cannot change your own role; ask another admin or an owner');
        }
      }
      if (patch.role !== undefined && patch.role !== current.role && !canAssignRole(actor.role, current.role, patch.role)) {
        throw forbidden(`${withArticle(actor.role)} cannot change ${withArticle(current.role)} to ${patch.role}`);
      }
      if (current.role === 'owner' && actor.role !== 'owner') {
        throw forbidden('only an owner can change or disable an owner');
      }
      if (patch.role !== undefined && patch.role !== current.role && (patch.role === 'owner' || patch.role === 'admin') && current.passwordChangeRequired) {
        // Whoever set the password (an admin) could otherwise sign in as the promoted user.
        throw new AppError(AppErrorCode.InvalidState, `${current.email} has not yet chosen their own password (they must sign in once first): they cannot be made ${withArticle(patch.role)} until then`);
      }
      if ((patch.name ?? current.name) === current.name && (patch.role ?? current.role) === current.role && (patch.disabled ?? current.disabled) === current.disabled) {
        // Nothing to write: no new version, no audit entry (a stale version is still a conflict).
        if (current.version !== expectedVersion) {
          throw versionConflict('user', current.version, expectedVersion);
        }
        return current;
      }
      if (patch.disabled === false && current.disabled && current.kind === UserKind.Person && (await scimUsers.find(tx, actor.orgId, id, { includeDeleted: true }))?.scimDeleted === true) {
        // The identity provider deleted them (SCIM DELETE): it provisions them again, or they stay out.
        throw new AppError(AppErrorCode.InvalidState, `${current.email} was deleted by your identity provider (SCIM): assign them to xp there again to bring them back`);
      }
      const losesOwner = current.role === 'owner' && ((patch.role !== undefined && patch.role !== 'owner') || patch.disabled === true);
      if (losesOwner && (await users.countInOrg(tx, actor.orgId, 'owner', { lock: true })) <= 1) {
        throw new AppError(AppErrorCode.InvalidState, 'the organisation must keep at least one active owner');
      }
      return writeUserChange(tx, actor, current, patch, expectedVersion);
    });
  }

  /**
   * 403 when the actor is a service account, for what would hand it a person's credential (a
   * temporary or initial password): a leaked robot token would become a person's session, which
   * outlives disabling or deleting the robot. `what` is what it may not do.
   */
  private async refuseServiceAccountActor(actor: Actor, what: string): Promise<void> {
    if (await this.isServiceAccount(actor)) {
      throw forbidden(`a service account cannot ${what} (it would hand a person's credential to a robot); a person must do it`);
    }
  }

  /** Whether the actor is a service account (its own row says so: the actor carries its kind nowhere else). */
  private async isServiceAccount(actor: Actor): Promise<boolean> {
    return (await users.find(this.deps.db, actor.orgId, actor.userId))?.kind === UserKind.Service;
  }

  /** Service accounts of the organisation (never deleted ones), paged in the order of their handles: stable, not meaningful. */
  async listServiceAccounts(actor: Actor, options: PageRequest & { search?: string | undefined }): Promise<Page<User>> {
    assertCan(actor, Permission.Read);
    return users.list(this.deps.db, actor.orgId, { ...options, kind: UserKind.Service });
  }

  async getServiceAccount(actor: Actor, id: string, db: Queryable = this.deps.db): Promise<User> {
    assertCan(actor, Permission.Read);
    const account = await users.find(db, actor.orgId, id);
    if (account?.kind !== UserKind.Service) {
      throw notFound('service account');
    }
    return account;
  }

  /**
   * Creates a service account: an identity of the organisation that never signs in, whose tokens
   * (minted by an administrator) act as it, whoever made it and whatever becomes of them. An admin
   * gives it at most editor (in the organisation and in each project); only an owner an admin one.
   */
  async createServiceAccount(actor: Actor, input: unknown): Promise<User> {
    assertCan(actor, Permission.UsersManage);
    const data = parseOrThrow(serviceAccountCreateSchema, input, 'service account');
    for (const role of [data.role, ...(data.projectRoles ?? []).map((r) => r.role)]) {
      assertCanGrant(actor, role);
    }
    return this.deps.db.withTransaction(async (tx) => {
      const id = this.deps.newId();
      const description = data.description === undefined || data.description === '' ? null : data.description;
      await users.create(tx, { id, orgId: actor.orgId, email: `${id}@${SERVICE_ACCOUNT_EMAIL_DOMAIN}`, name: data.name, role: data.role, passwordHash: null, kind: UserKind.Service, description });
      const projectRoles = await this.replaceServiceAccountProjectRoles(tx, actor, id, data.name, data.role, [], data.projectRoles ?? []);
      await record(tx, actor, {
        projectId: null,
        action: 'service-account.created',
        resourceType: 'user',
        resourceKey: id,
        before: undefined,
        after: { name: data.name, ...(description === null ? {} : { description }), role: data.role, ...(projectRoles.length === 0 ? {} : { projectRoles }) },
      });
      return users.get(tx, actor.orgId, id);
    });
  }

  /**
   * Renames, describes, changes the roles of, disables or enables a service account. Disabling stops
   * its tokens at once (401) without revoking them: enabling it again brings them back.
   */
  async updateServiceAccount(actor: Actor, id: string, input: unknown, expectedVersion: number): Promise<User> {
    assertCan(actor, Permission.UsersManage);
    const patch = parseOrThrow(serviceAccountPatchSchema, input, 'service account');
    return this.deps.db.withTransaction(async (tx) => {
      const current = await this.manageableServiceAccount(tx, actor, id);
      if (patch.role !== undefined) {
        assertCanGrant(actor, patch.role);
      }
      for (const r of patch.projectRoles ?? []) {
        assertCanGrant(actor, r.role);
      }
      const description = patch.description === undefined ? undefined : patch.description === '' ? null : patch.description;
      const rolesBefore = current.projectRoles.map((r) => ({ project: r.project, role: r.role })).sort((a, b) => a.project.localeCompare(b.project));
      const rolesAfter = patch.projectRoles === undefined ? rolesBefore : [...patch.projectRoles].sort((a, b) => a.project.localeCompare(b.project));
      const same =
        (patch.name ?? current.name) === current.name &&
        (description === undefined ? current.description : description) === current.description &&
        (patch.role ?? current.role) === current.role &&
        (patch.disabled ?? current.disabled) === current.disabled &&
        JSON.stringify(rolesAfter) === JSON.stringify(rolesBefore);
      if (current.version !== expectedVersion || same) {
        // Nothing to write: no new version, no audit entry (a stale version is still a conflict).
        if (current.version !== expectedVersion) {
          throw versionConflict('service account', current.version, expectedVersion);
        }
        return current;
      }
      const updated = await users.updateServiceAccount(tx, actor.orgId, id, expectedVersion, { name: patch.name, description, role: patch.role, disabled: patch.disabled });
      const projectRoles = patch.projectRoles === undefined ? rolesBefore : await this.replaceServiceAccountProjectRoles(tx, actor, id, updated.name, updated.role, current.projectRoles, patch.projectRoles);
      const view = (u: User, roles: readonly { project: string; role: Role }[]): Record<string, unknown> => ({ name: u.name, ...(u.description === null ? {} : { description: u.description }), role: u.role, disabled: u.disabled, projectRoles: roles });
      await record(tx, actor, { projectId: null, action: 'service-account.updated', resourceType: 'user', resourceKey: id, before: view(current, rolesBefore), after: view(updated, projectRoles) });
      if (updated.disabled !== current.disabled || updated.role !== current.role || patch.projectRoles !== undefined) {
        // As for people: approvals that no longer count go for good.
        await withdrawLapsedApprovals(tx, actor, id);
      }
      return users.get(tx, actor.orgId, id);
    });
  }

  /**
   * Deletes a service account: its tokens are revoked, its project roles removed, and it is gone
   * from lists and lookups; its row stays for the history that names it (audit log, definitions).
   */
  async deleteServiceAccount(actor: Actor, id: string, expectedVersion: number): Promise<ServiceAccountDeletion> {
    assertCan(actor, Permission.UsersManage);
    return this.deps.db.withTransaction(async (tx) => {
      // Locked first: a change or token minted meanwhile waits, then finds it gone.
      await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [id]);
      const current = await this.manageableServiceAccount(tx, actor, id);
      if (current.version !== expectedVersion) {
        throw versionConflict('service account', current.version, expectedVersion);
      }
      const tokensRevoked = await credentials.revokeAccessTokensForUser(tx, id);
      const rolesRemoved = await projectRoles.removeAllForUser(tx, id);
      // What it left to be done later would only fail then ("its creator no longer exists"): it ends now, by whoever deletes it.
      const gone = (role: string): string => `its ${role} ${serviceAccountLabel(current.name)} was deleted`;
      const changeRequestsCancelled = await cancelOpenProposedBy(tx, actor, id, gone('proposer'));
      const scheduled = await scheduledChanges.cancelPendingCreatedBy(tx, id, actor.userId, this.deps.now());
      for (const sc of scheduled) {
        await record(tx, actor, {
          projectId: sc.projectId,
          action: 'flag.scheduled-change-cancelled',
          resourceType: 'flag',
          resourceKey: sc.flag,
          environment: sc.environment,
          before: undefined,
          after: { scheduledChange: sc.id, at: sc.at, createdBy: sc.createdBy, reason: gone('creator') },
        });
      }
      const scheduledChangesCancelled = scheduled.length;
      await users.markServiceAccountDeleted(tx, actor.orgId, id, this.deps.now());
      await withdrawLapsedApprovals(tx, actor, id);
      await record(tx, actor, {
        projectId: null,
        action: 'service-account.deleted',
        resourceType: 'user',
        resourceKey: id,
        before: { name: current.name, role: current.role, ...(rolesRemoved.length === 0 ? {} : { projectRoles: rolesRemoved.map((r) => ({ project: r.project, role: r.role })) }) },
        after: { tokensRevoked, changeRequestsCancelled, scheduledChangesCancelled },
      });
      return { tokensRevoked, changeRequestsCancelled, scheduledChangesCancelled };
    });
  }

  /**
   * Mints a token of a service account (the secret returned once, stored hashed): it acts as the
   * account, with the lower of its own `role` and the account's, within its `projects`. Never by the
   * account itself. The account's live tokens are bounded as a person's are.
   */
  async createServiceAccountToken(actor: Actor, id: string, input: unknown): Promise<{ token: string; accessToken: AccessToken }> {
    assertCan(actor, Permission.UsersManage);
    const { name, expiresInDays, role, projects: projectKeys } = parseOrThrow(tokenCreateSchema, input, 'access token');
    const account = await this.manageableServiceAccount(this.deps.db, actor, id);
    if (role !== undefined && ROLE_RANK[role] > ROLE_RANK[account.role]) {
      throw forbidden(`a token cannot have a higher role than its service account's (${account.role}); ask for ${account.role} or lower`);
    }
    const projectIds = projectKeys === undefined ? null : await this.projectIdsOf(actor, projectKeys);
    const token = generateToken(TokenKind.PersonalAccess);
    const accessToken = await this.deps.db.withTransaction(async (tx) => {
      // Locked first, so creations sent together are counted one after the other.
      await tx.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [id]);
      await this.manageableServiceAccount(tx, actor, id);
      const expiresAt = await this.mintExpiry(tx, actor, expiresInDays);
      const live = await credentials.countLiveAccessTokens(tx, id, this.deps.now());
      if (live >= MAX_LIVE_TOKENS) {
        throw new AppError(AppErrorCode.InvalidState, `"${account.name}" has ${String(live)} live tokens, the most one account may hold; revoke the ones no longer used (DELETE /api/v1/service-accounts/{id}/tokens/{tokenId})`);
      }
      const created = await credentials.createAccessToken(tx, { id: this.deps.newId(), userId: id, name, tokenHash: hashToken(token), prefix: tokenPrefix(token), expiresAt, parentId: null, createdBy: actor.userId, role: role ?? null, projectIds });
      await record(tx, actor, {
        projectId: null,
        action: 'service-account.token-created',
        resourceType: 'access-token',
        resourceKey: created.id,
        before: undefined,
        after: { serviceAccount: id, serviceAccountName: account.name, name, prefix: created.prefix, ...(created.role === null ? {} : { role: created.role }), ...(created.projects === null ? {} : { projects: created.projects }), ...(created.expiresAt === null ? {} : { expiresAt: created.expiresAt }) },
      });
      return created;
    });
    return { token, accessToken };
  }

  async listServiceAccountTokens(actor: Actor, id: string): Promise<AccessToken[]> {
    assertCan(actor, Permission.UsersManage);
    await this.manageableServiceAccount(this.deps.db, actor, id);
    return credentials.listAccessTokens(this.deps.db, id);
  }

  async revokeServiceAccountToken(actor: Actor, id: string, tokenId: string): Promise<AccessToken> {
    assertCan(actor, Permission.UsersManage);
    return this.deps.db.withTransaction(async (tx) => {
      const account = await this.manageableServiceAccount(tx, actor, id);
      const { token, revokedNow } = await credentials.revokeAccessToken(tx, id, tokenId);
      // Revoking again changes nothing, and is not recorded again.
      if (revokedNow) {
        await record(tx, actor, {
          projectId: null,
          action: 'service-account.token-revoked',
          resourceType: 'access-token',
          resourceKey: tokenId,
          before: undefined,
          after: { serviceAccount: id, serviceAccountName: account.name, name: token.name, prefix: token.prefix },
        });
      }
      return token;
    });
  }

  /**
   * The service account, if the actor may manage it: not itself (an administrator does), and only
   * one whose every role the actor could grant (an admin not an admin service account).
   */
  private async manageableServiceAccount(db: Queryable, actor: Actor, id: string): Promise<User> {
    const account = await this.getServiceAccount(actor, id, db);
    if (id === actor.userId) {
      throw forbidden('a service account cannot manage itself; an administrator does');
    }
    for (const role of [account.role, ...account.projectRoles.map((r) => r.role)]) {
      if (!canGrantServiceAccountRole(actor.role, role)) {
        throw forbidden(`${withArticle(actor.role)} cannot manage a service account that is ${withArticle(role)}${role === account.role ? '' : ' in a project'}; ask an owner`);
      }
    }
    return account;
  }

  /**
   * Replaces a service account's project roles with `wanted` (each project one the actor may see),
   * recording each change in its project as people's are (`user.project-role-set` / `-removed`, which
   * the project's webhooks receive). Answers the roles now held, by project key.
   */
  private async replaceServiceAccountProjectRoles(
    tx: Queryable,
    actor: Actor,
    id: string,
    name: string,
    organisationRole: Role,
    current: readonly { project: string; projectId: string; role: Role }[],
    wanted: readonly { project: string; role: Role }[],
  ): Promise<{ project: string; role: Role }[]> {
    const email = serviceAccountLabel(name);
    const wantedByKey = new Map(wanted.map((r) => [r.project, r.role]));
    for (const old of current) {
      if (!wantedByKey.has(old.project)) {
        await projectRoles.remove(tx, id, old.projectId);
        await record(tx, actor, { projectId: old.projectId, action: 'user.project-role-removed', resourceType: 'user', resourceKey: id, before: { email, organisationRole, projectRole: old.role }, after: { email, organisationRole } });
      }
    }
    for (const r of wanted) {
      const project = await projectFor(tx, actor, r.project);
      const before = current.find((c) => c.projectId === project.id)?.role;
      if (before === r.role) {
        continue;
      }
      await projectRoles.set(tx, id, project.id, r.role);
      await record(tx, actor, {
        projectId: project.id,
        action: 'user.project-role-set',
        resourceType: 'user',
        resourceKey: id,
        before: before === undefined ? { email, organisationRole } : { email, organisationRole, projectRole: before },
        after: { email, organisationRole, projectRole: r.role },
      });
    }
    return [...wanted].map((r) => ({ project: r.project, role: r.role })).sort((a, b) => a.project.localeCompare(b.project));
  }

  /**
   * Sets a user's role in one project, in place of their organisation role there (higher or lower),
   * within the rules of organisation roles (`canAssignRole` on the user's current role in that
   * project). Not for owners (400): they are owners everywhere. Audited as `user.project-role-set`.
   */
  async setProjectRole(actor: Actor, id: string, projectKey: string, input: unknown): Promise<User> {
    assertCan(actor, Permission.UsersManage);
    const { role } = parseOrThrow(projectRoleSchema, input, 'project role');
    return this.changeProjectRole(actor, id, projectKey, role);
  }

  /** Removes a user's role in one project: their organisation role applies there again. Audited as `user.project-role-removed`. */
  async removeProjectRole(actor: Actor, id: string, projectKey: string): Promise<User> {
    assertCan(actor, Permission.UsersManage);
    return this.changeProjectRole(actor, id, projectKey, undefined);
  }

  /** `role` undefined: back to the organisation role. Answers the user with their project roles. */
  private async changeProjectRole(actor: Actor, id: string, projectKey: string, role: Role | undefined): Promise<User> {
    if (id === actor.userId) {
      // Else an admin lowered in a project would lift it again, and the lower role would restrict nothing.
      throw forbidden('you cannot change your own project role; ask another admin or an owner');
    }
    return this.deps.db.withTransaction(async (tx) => {
      const target = await users.get(tx, actor.orgId, id);
      refuseServiceAccount(target, 'gets its project roles with PATCH /api/v1/service-accounts/{id} (projectRoles)');
      const project = await projectFor(tx, actor, projectKey);
      if (target.role === Role.Owner) {
        throw invalid(`${target.email} is an owner, and owners are owners in every project: they take no project role`, { issues: [{ path: 'role', message: 'the user is an owner', code: 'OWNER' }] });
      }
      const current = target.projectRoles.find((r) => r.projectId === project.id)?.role;
      const before = current ?? target.role;
      const after = role ?? target.role;
      if (current === role) {
        return target;
      }
      if (!canAssignRole(actor.role, before, after)) {
        throw forbidden(`${withArticle(actor.role)} cannot change ${withArticle(before)} to ${after} in project "${project.key}"`);
      }
      if (role === Role.Admin && target.passwordChangeRequired) {
        // As for the organisation role: whoever set the password could otherwise act as the promoted user.
        throw new AppError(AppErrorCode.InvalidState, `${target.email} has not yet chosen their own password (they must sign in once first): they cannot be made an admin until then`);
      }
      if (role === undefined) {
        await projectRoles.remove(tx, id, project.id);
      } else {
        await projectRoles.set(tx, id, project.id, role);
      }
      // The user's view (and ETag) shows their project roles: a write based on the view before this one must not pass.
      await users.touch(tx, id);
      await record(tx, actor, {
        projectId: project.id,
        action: role === undefined ? 'user.project-role-removed' : 'user.project-role-set',
        resourceType: 'user',
        resourceKey: id,
        before: current === undefined ? { email: target.email, organisationRole: target.role } : { email: target.email, organisationRole: target.role, projectRole: current },
        after: role === undefined ? { email: target.email, organisationRole: target.role } : { email: target.email, organisationRole: target.role, projectRole: role },
      });
      // Approvals given in the project that no longer count go for good (see updateUser).
      await withdrawLapsedApprovals(tx, actor, id);
      return users.get(tx, actor.orgId, id);
    });
  }
}

/**
 * Writes a change of a person's name, role or disabled flag, checked by the caller (who may make it,
 * the last owner), inside its transaction, with the console's effects: disabling ends every session
 * and personal access token of the person at once; a new owner loses their project roles; approvals
 * that no longer count are withdrawn; audited as `user.updated`. Shared by `updateUser` and SCIM
 * provisioning (domain/scim.ts), which adds to the entry what it changed besides (`before`/`after`)
 * and how it was made (`marker`: `via: 'scim'`).
 */
export async function writeUserChange(
  tx: Queryable,
  actor: Actor,
  current: User,
  patch: { readonly name?: string | undefined; readonly role?: Role | undefined; readonly disabled?: boolean | undefined },
  expectedVersion: number,
  options: { readonly before?: Readonly<Record<string, unknown>>; readonly after?: Readonly<Record<string, unknown>>; readonly marker?: Readonly<Record<string, unknown>> } = {},
): Promise<User> {
  const id = current.id;
  let updated = await users.update(tx, actor.orgId, id, expectedVersion, patch);
  // A disable ends every session and token of the user; the entry says how many.
  const revoked = patch.disabled === true ? await credentials.revokeAllForUser(tx, id) : undefined;
  // Owners are owners in every project: a new owner's project roles go (the entry lists them).
  const projectRolesRemoved = updated.role === Role.Owner && current.role !== Role.Owner ? await projectRoles.removeAllForUser(tx, id) : [];
  if (projectRolesRemoved.length > 0) {
    updated = { ...updated, projectRoles: [] };
  }
  await record(tx, actor, {
    projectId: null,
    action: 'user.updated',
    resourceType: 'user',
    resourceKey: id,
    before: { name: current.name, role: current.role, disabled: current.disabled, ...(projectRolesRemoved.length > 0 ? { projectRoles: projectRolesRemoved } : {}), ...options.before },
    after: { name: updated.name, role: updated.role, disabled: updated.disabled, ...(revoked !== undefined && !current.disabled ? revoked : {}), ...options.after },
    marker: options.marker,
  });
  if (updated.disabled !== current.disabled || updated.role !== current.role) {
    // Approvals that no longer count go for good: enabling or promoting the user again does not bring them back.
    await withdrawLapsedApprovals(tx, actor, id);
  }
  return updated;
}

/**
 * Sets a generated temporary password the user must replace at their next login, and ends all their
 * sessions and personal access tokens. Used by the admin reset and by `xp users reset-password`.
 */
async function setTemporaryPassword(tx: Queryable, userId: string, passwordHash: string): Promise<{ sessionsRevoked: number; accessTokensRevoked: number }> {
  await users.setPassword(tx, userId, passwordHash, true);
  const sessionsRevoked = await credentials.revokeOtherSessions(tx, userId, null);
  const accessTokensRevoked = await credentials.revokeAccessTokensForUser(tx, userId);
  return { sessionsRevoked, accessTokensRevoked };
}

/** The audit log's client for a reset made with `xp users reset-password`. */
export const CLI_RESET_CLIENT = 'cli (xp users reset-password)';

/**
 * Operator recovery (a forgotten password, the only owner's included): `xp users reset-password`
 * on the platform's database, no session needed. Same effects as `POST /users/{id}/password-reset`;
 * the audit entry has no user as its actor, the CLI as its client.
 */
export async function resetPasswordAsOperator(
  db: Database,
  email: string,
  options: { scrypt?: ScryptParams } = {},
): Promise<{ user: User; temporaryPassword: string; sessionsRevoked: number; accessTokensRevoked: number }> {
  const found = await users.findByEmail(db, email);
  if (found === undefined) {
    throw new AppError(AppErrorCode.NotFound, `no user with email ${email}`);
  }
  const temporaryPassword = randomPassword();
  const passwordHash = options.scrypt === undefined ? await hashPassword(temporaryPassword) : await hashPassword(temporaryPassword, options.scrypt);
  return db.withTransaction(async (tx) => {
    const revoked = await setTemporaryPassword(tx, found.id, passwordHash);
    await audit.append(tx, {
      orgId: found.orgId,
      projectId: null,
      actorId: null,
      actorEmail: null,
      client: CLI_RESET_CLIENT,
      action: 'user.password-reset',
      resourceType: 'user',
      resourceKey: found.id,
      diff: jsonDiff(undefined, { email: found.email, by: 'operator', ...revoked }),
    });
    const user = await users.get(tx, found.orgId, found.id);
    return { user, temporaryPassword, ...revoked };
  });
}

/** 403 unless the actor may give a service account `role` (`canGrantServiceAccountRole`). */
function assertCanGrant(actor: Actor, role: Role): void {
  if (!canGrantServiceAccountRole(actor.role, role)) {
    throw forbidden(role === Role.Admin ? 'only an owner can give a service account the admin role' : `${withArticle(actor.role)} cannot give a service account the ${role} role`);
  }
}

/** 400 for a people's route sent a service account's id: `what` says why, or where it is done instead. */
function refuseServiceAccount(target: User, what: string): void {
  if (target.kind === UserKind.Service) {
    throw invalid(`"${target.name}" is a service account, which ${what}`, { issues: [{ path: 'id', message: 'a service account', code: 'SERVICE_ACCOUNT' }] });
  }
}

/** "an admin", "a viewer": a role name for messages. */
export function withArticle(role: string): string {
  return `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`;
}
