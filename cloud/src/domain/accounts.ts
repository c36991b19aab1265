import { z } from 'zod';
import { roleSchema } from '@xp/shared';
import { hashPassword, needsRehash, validatePasswordStrength, verifyPassword } from '../auth/passwords.js';
import type { ScryptParams } from '../auth/passwords.js';
import { Permission, assertCan, canAssignRole } from '../auth/permissions.js';
import type { LoginDecision, LoginRateLimiter } from '../auth/rate-limit.js';
import { TokenKind, generateToken, hashToken, tokenPrefix } from '../auth/tokens.js';
import { AppError, AppErrorCode, forbidden, invalid } from '../errors.js';
import { credentials } from '../store/credentials.js';
import type { AccessToken, Principal } from '../store/credentials.js';
import type { Page, PageRequest } from '../store/pagination.js';
import { users } from '../store/users.js';
import type { User } from '../store/users.js';
import { record, recordUnauthenticated } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { parseOrThrow } from './validation.js';

export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export const loginSchema = z.strictObject({
  email: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
});

export const inviteSchema = z.strictObject({
  email: z.email().max(320),
  name: z.string().min(1).max(200),
  role: roleSchema,
  /** Optional initial password; without one a random one is generated and returned once. */
  password: z.string().min(1).max(256).optional(),
});

export const userPatchSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  role: roleSchema.optional(),
  disabled: z.boolean().optional(),
});

export const tokenCreateSchema = z.strictObject({
  name: z.string().min(1).max(100),
  /** Days until expiry; absent means no expiry. */
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});

export const passwordChangeSchema = z.strictObject({
  currentPassword: z.string().min(1).max(1024),
  newPassword: z.string().min(1).max(1024),
  /** Also revoke all your personal access tokens (your other sessions always end). */
  revokeAccessTokens: z.boolean().optional(),
});

export interface AccountsOptions {
  readonly limiter: LoginRateLimiter;
  /** Lower scrypt cost in tests; production uses the default. */
  readonly scrypt?: ScryptParams;
}

function actorOf(p: Principal, client: string): Actor {
  return { userId: p.userId, orgId: p.orgId, email: p.email, role: p.role, client };
}

function checkStrength(password: string, user: { email: string; name: string }): void {
  const problems = validatePasswordStrength(password, user);
  if (problems.length > 0) {
    throw invalid(`password too weak: ${problems.map((p) => p.message).join('; ')}`, { issues: problems.map((p) => ({ path: 'password', message: p.message, code: p.code })) });
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

/** Live (unrevoked, unexpired) personal access tokens one user may hold. */
export const MAX_LIVE_TOKENS = 100;

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
    const { email, password } = parseOrThrow(loginSchema, input, 'login');
    const attempt = { email, ip: meta.ip };
    // Counted as a failure before the (slow) password check, atomically, so a concurrent burst cannot
    // have more guesses checked than the limit; a right password takes the count back.
    const admission = await this.options.limiter.admit(attempt);
    if (!admission.allowed) {
      throw rateLimited(admission.retryAfterSeconds);
    }
    const user = await users.findForLogin(this.deps.db, email);
    this.#dummyHash ??= this.hash('not-a-real-password-for-timing');
    const ok = await verifyPassword(password, user?.passwordHash ?? (await this.#dummyHash));
    if (user === undefined || user.passwordHash === null || !ok || user.disabled) {
      const after = await admission.failed();
      this.deps.logger.warn('login failed', { ip: meta.ip });
      await this.recordFailedLogin(user, meta, after);
      if (!after.allowed) {
        throw rateLimited(after.retryAfterSeconds);
      }
      throw new AppError(AppErrorCode.Unauthenticated, 'invalid email or password');
    }
    await admission.succeeded();
    if (needsRehash(user.passwordHash, this.options.scrypt)) {
      await users.setPassword(this.deps.db, user.id, await this.hash(password));
    }
    const token = generateToken(TokenKind.Session);
    const expiresAt = new Date(this.deps.now().getTime() + SESSION_TTL_MS);
    await this.deps.db.withTransaction(async (tx) => {
      await credentials.createSession(tx, { id: this.deps.newId(), userId: user.id, tokenHash: hashToken(token), client: meta.client, expiresAt });
      await record(tx, actorOf({ ...user, userId: user.id, credentialId: '', via: 'session' }, meta.client), {
        projectId: null,
        action: 'user.logged-in',
        resourceType: 'user',
        resourceKey: user.id,
        before: undefined,
        after: undefined,
      });
    });
    const { passwordHash: _omit, ...publicUser } = user;
    return { token, expiresAt: expiresAt.toISOString(), user: publicUser };
  }

  /**
   * Audits a failed login (`user.login-failed`: the client address, and the email only when it is a
   * user's) and, when it made the limiter refuse the next attempts, `user.locked-out`. Refused
   * attempts (429) are not recorded, so the limiter bounds the entries. A failure to record is
   * logged and does not change the answer.
   */
  private async recordFailedLogin(user: Pick<User, 'id' | 'orgId' | 'email'> | undefined, meta: { ip: string; client: string }, after: LoginDecision): Promise<void> {
    try {
      this.#firstOrg ??= this.deps.db.query<{ id: string }>('SELECT id FROM organizations ORDER BY created_at, id LIMIT 1').then((r) => r.rows[0]?.id);
      const orgId = user?.orgId ?? (await this.#firstOrg);
      if (orgId === undefined) {
        return;
      }
      const who = { ...(user === undefined ? {} : { email: user.email }), ip: meta.ip };
      const common = { orgId, client: meta.client, resourceType: 'user', resourceKey: user?.id ?? UNKNOWN_USER_KEY } as const;
      await this.deps.db.withTransaction(async (tx) => {
        await recordUnauthenticated(tx, { ...common, action: 'user.login-failed', after: who });
        if (!after.allowed) {
          await recordUnauthenticated(tx, { ...common, action: 'user.locked-out', after: { ...who, limits: after.refusedBy, retryAfterSeconds: after.retryAfterSeconds } });
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
    await credentials.revokeSession(this.deps.db, hashToken(token));
  }

  /** Ends the caller's other sessions (all of them when called with a personal access token). */
  async revokeOtherSessions(actor: Actor, token: string | undefined): Promise<{ revoked: number }> {
    assertCan(actor, Permission.OwnTokensManage);
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
    const { currentPassword, newPassword, revokeAccessTokens } = parseOrThrow(passwordChangeSchema, input, 'password change');
    const admission = await this.options.limiter.admit({ email: actor.email, ip: meta.ip });
    if (!admission.allowed) {
      throw rateLimited(admission.retryAfterSeconds, 'too many wrong passwords; try again later');
    }
    const user = await users.findForLogin(this.deps.db, actor.email);
    if (user?.passwordHash === null || user === undefined || !(await verifyPassword(currentPassword, user.passwordHash))) {
      const after = await admission.failed();
      if (!after.allowed) {
        throw rateLimited(after.retryAfterSeconds, 'too many wrong passwords; try again later');
      }
      throw new AppError(AppErrorCode.Unauthenticated, 'current password is wrong');
    }
    await admission.succeeded();
    checkStrength(newPassword, user);
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
   * creator: its expiry is capped at the creator's (and is the creator's when none is asked for).
   */
  async createToken(actor: Actor, input: unknown, creatorToken?: string): Promise<{ token: string; accessToken: AccessToken }> {
    assertCan(actor, Permission.OwnTokensManage);
    const { name, expiresInDays } = parseOrThrow(tokenCreateSchema, input, 'access token');
    const creator = creatorToken === undefined ? undefined : await credentials.findCredential(this.deps.db, hashToken(creatorToken), this.deps.now());
    const cap = creator?.via === 'token' && creator.expiresAt !== null ? new Date(creator.expiresAt) : null;
    const token = generateToken(TokenKind.PersonalAccess);
    const asked = expiresInDays === undefined ? null : new Date(this.deps.now().getTime() + expiresInDays * 86_400_000);
    const expiresAt = cap === null ? asked : asked === null || asked > cap ? cap : asked;
    const accessToken = await this.deps.db.withTransaction(async (tx) => {
      // A bound on live tokens per user: a script (or a leaked token) minting them in a loop.
      const live = await credentials.countLiveAccessTokens(tx, actor.userId, this.deps.now());
      if (live >= MAX_LIVE_TOKENS) {
        throw new AppError(AppErrorCode.InvalidState, `you have ${String(live)} live access tokens, the most one user may hold; revoke the ones you no longer use (DELETE /api/v1/me/tokens/{id})`);
      }
      const parentId = creator?.via === 'token' ? creator.id : null;
      const created = await credentials.createAccessToken(tx, { id: this.deps.newId(), userId: actor.userId, name, tokenHash: hashToken(token), prefix: tokenPrefix(token), expiresAt, parentId });
      await record(tx, actor, { projectId: null, action: 'token.created', resourceType: 'access-token', resourceKey: created.id, before: undefined, after: { name, prefix: created.prefix } });
      return created;
    });
    return { token, accessToken };
  }

  async listTokens(actor: Actor): Promise<AccessToken[]> {
    assertCan(actor, Permission.OwnTokensManage);
    return credentials.listAccessTokens(this.deps.db, actor.userId);
  }

  async revokeToken(actor: Actor, id: string): Promise<AccessToken> {
    assertCan(actor, Permission.OwnTokensManage);
    return this.deps.db.withTransaction(async (tx) => {
      const { token, descendants } = await credentials.revokeAccessToken(tx, actor.userId, id);
      // The tokens made with it went too; the entry says how many.
      await record(tx, actor, { projectId: null, action: 'token.revoked', resourceType: 'access-token', resourceKey: id, before: undefined, after: descendants === 0 ? undefined : { tokensMadeWithItRevoked: descendants } });
      return token;
    });
  }

  async listUsers(actor: Actor, options: PageRequest & { search?: string | undefined }): Promise<Page<User>> {
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
    if (!canAssignRole(actor.role, undefined, data.role)) {
      throw forbidden(`${withArticle(actor.role)} cannot grant the ${data.role} role`);
    }
    const password = data.password ?? randomPassword();
    if (data.password !== undefined) {
      checkStrength(password, data);
    }
    const passwordHash = await this.hash(password);
    const user = await this.deps.db.withTransaction(async (tx) => {
      const created = await users.create(tx, { id: this.deps.newId(), orgId: actor.orgId, email: data.email, name: data.name, role: data.role, passwordHash });
      await record(tx, actor, { projectId: null, action: 'user.created', resourceType: 'user', resourceKey: created.id, before: undefined, after: { email: created.email, name: created.name, role: created.role } });
      return created;
    });
    return data.password === undefined ? { user, initialPassword: password } : { user };
  }

  async updateUser(actor: Actor, id: string, input: unknown, expectedVersion: number): Promise<User> {
    assertCan(actor, Permission.UsersManage);
    const patch = parseOrThrow(userPatchSchema, input, 'user');
    return this.deps.db.withTransaction(async (tx) => {
      const current = await users.get(tx, actor.orgId, id);
      if (patch.role !== undefined && patch.role !== current.role && !canAssignRole(actor.role, current.role, patch.role)) {
        throw forbidden(`${withArticle(actor.role)} cannot change ${withArticle(current.role)} to ${patch.role}`);
      }
      if (current.role === 'owner' && actor.role !== 'owner') {
        throw forbidden('only an owner can change or disable an owner');
      }
      const losesOwner = current.role === 'owner' && ((patch.role !== undefined && patch.role !== 'owner') || patch.disabled === true);
      if (losesOwner && (await users.countInOrg(tx, actor.orgId, 'owner', { lock: true })) <= 1) {
        throw new AppError(AppErrorCode.InvalidState, 'the organisation must keep at least one active owner');
      }
      const updated = await users.update(tx, actor.orgId, id, expectedVersion, patch);
      if (patch.disabled === true) {
        await credentials.revokeAllForUser(tx, id);
      }
      await record(tx, actor, {
        projectId: null,
        action: 'user.updated',
        resourceType: 'user',
        resourceKey: id,
        before: { name: current.name, role: current.role, disabled: current.disabled },
        after: { name: updated.name, role: updated.role, disabled: updated.disabled },
      });
      return updated;
    });
  }
}

/** "an admin", "a viewer": a role name for messages. */
function withArticle(role: string): string {
  return `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`;
}
