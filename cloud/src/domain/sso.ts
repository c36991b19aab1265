/**
 * Single sign-on with OpenID Connect: xp as the relying party (openid-client does discovery, PKCE,
 * state and nonce, the code grant and the ID-token checks). The flow:
 *
 * 1. `start`: a pending authorisation (sso_logins: the state's hash, the browser-binding cookie's
 *    hash, nonce, PKCE verifier; 10 minutes) and the IdP's authorization URL. The browser gets the
 *    binding as the `xp_sso` cookie.
 * 2. `callback`: the state is taken (single use) and must match the cookie; the code is traded at
 *    the IdP and the ID token checked; the verified email resolves (or creates) the user; a
 *    one-time code (sso_codes, 60 s, bound to the same cookie) goes back in the URL fragment.
 * 3. `exchange`: the one-time code and the same cookie make a session, answered as login answers.
 *
 * The session token only ever travels in the exchange's JSON body; nothing secret is logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import { ROLE_RANK, Role } from '@xp/shared';
import type { SsoErrorReason, SsoInfo } from '@xp/shared';
import { InMemoryRateLimiter, clientKey } from '../auth/rate-limit.js';
import type { RateLimiter } from '../auth/rate-limit.js';
import { isLoopbackUrl, mappedRole } from '../auth/sso-config.js';
import type { SsoConfig } from '../auth/sso-config.js';
import { TokenKind, generateToken, hashToken } from '../auth/tokens.js';
import { AppError, AppErrorCode } from '../errors.js';
import { credentials } from '../store/credentials.js';
import type { Queryable } from '../store/db.js';
import { ssoStore } from '../store/sso.js';
import { SERVICE_ACCOUNT_EMAIL_DOMAIN, users } from '../store/users.js';
import type { User } from '../store/users.js';
import { SESSION_TTL_MS, UNKNOWN_USER_KEY, displayNameSchema } from './accounts.js';
import { record, recordUnauthenticated } from './audit-trail.js';
import { withdrawLapsedApprovals } from './change-requests.js';
import type { Actor, Deps } from './context.js';

/** The browser-binding cookie: set by start, read by the callback and the exchange. */
export const SSO_COOKIE = 'xp_sso';
/** The cookie's path: only the SSO routes receive it. */
export const SSO_COOKIE_PATH = '/api/v1/auth/sso';
/** How long a pending authorisation (and the cookie) lives. */
export const SSO_LOGIN_TTL_MS = 10 * 60 * 1000;
/** How long a one-time sign-in code lives. */
export const SSO_CODE_TTL_MS = 60 * 1000;
/** Starts per client address per window (each writes a row): a bound against flooding, far above any person's use. */
export const SSO_START_LIMIT = { limit: 30, windowMs: 15 * 60 * 1000 } as const;
/** The scopes asked for; a groups claim's scope, when the IdP needs one, is the IdP's configuration. */
export const SSO_SCOPE = 'openid email profile';
/** The message of an unknown, used or expired one-time code, or one sent without its browser's cookie. */
export const SSO_CODE_REFUSED = 'sign-in code expired or already used';

const sha256 = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A refusal of the callback: the reason the console shows, and what the audit entry records. */
class SsoRefusal extends Error {
  constructor(
    readonly reason: SsoErrorReason,
    readonly detail: { readonly email?: string | undefined; readonly user?: Pick<User, 'id' | 'orgId'> | undefined; readonly why?: string | undefined } = {},
  ) {
    super(reason);
  }
}

/** Whether a failure of discovery or the token endpoint is the IdP being unreachable (else its answer failed the checks). */
function unavailable(e: unknown): boolean {
  for (let err: unknown = e, depth = 0; err !== undefined && err !== null && depth < 5; err = (err as { cause?: unknown }).cause, depth++) {
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError' || (err instanceof TypeError && err.message === 'fetch failed'))) {
      return true;
    }
    if (err instanceof oidc.ResponseBodyError) {
      return err.status >= 500;
    }
    if (typeof Response !== 'undefined' && err instanceof Response) {
      return err.status >= 500 || err.status === 404;
    }
  }
  return false;
}

/** A safe description of an openid-client failure for the log: its kind and code, never a token. */
function describe(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) {
    return { error: 'unknown' };
  }
  const code = (e as { code?: unknown }).code;
  const oauthError = e instanceof oidc.ResponseBodyError ? e.error : undefined;
  return { error: e.name, message: e.message.slice(0, 200), ...(typeof code === 'string' ? { code } : {}), ...(oauthError === undefined ? {} : { oauthError }) };
}

function stringClaim(claims: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The groups in a claim: an array of strings, or one string. */
function groupsOf(claims: Readonly<Record<string, unknown>>, name: string | undefined): string[] {
  if (name === undefined) {
    return [];
  }
  const v = claims[name];
  if (typeof v === 'string') {
    return [v];
  }
  return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
}

/**
 * Whether the IdP vouches for the email: `email_verified` true (some IdPs send it as the string
 * "true"). Microsoft Entra ID never sends `email_verified`; its optional claim `xms_edov` (the
 * email's domain owner is verified) stands for it there, only when `email_verified` is absent.
 */
export function emailVerified(claims: Readonly<Record<string, unknown>>): boolean {
  const verified = claims.email_verified;
  if (verified !== undefined) {
    return verified === true || verified === 'true';
  }
  return claims.xms_edov === true || claims.xms_edov === 'true' || claims.xms_edov === 1 || claims.xms_edov === '1';
}

const nameSchema = displayNameSchema(200);
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export interface SsoServiceOptions {
  /** Starts per client address (default: in process memory, SSO_START_LIMIT). */
  readonly startLimiter?: RateLimiter;
}

/** Where the callback sends the browser: the console with the outcome in the fragment. */
export interface SsoRedirect {
  readonly location: string;
}

export class SsoService {
  /** The IdP's discovered configuration, for the settings it was made with. */
  #configuration: { readonly for: SsoConfig; readonly promise: Promise<oidc.Configuration> } | undefined;
  readonly #startLimiter: RateLimiter;
  #firstOrg: Promise<string | undefined> | undefined;

  constructor(
    private readonly deps: Deps,
    options: SsoServiceOptions = {},
  ) {
    this.#startLimiter = options.startLimiter ?? new InMemoryRateLimiter({ ...SSO_START_LIMIT, now: () => deps.now().getTime() });
  }

  get config(): SsoConfig | undefined {
    return this.deps.sso;
  }

  /** GET /api/v1/auth/sso. */
  info(): SsoInfo {
    const c = this.config;
    return { enabled: c !== undefined, name: c?.name ?? null, passwordSignIn: c?.enforced === true ? 'owners' : 'all' };
  }

  private enabled(): SsoConfig {
    const c = this.config;
    if (c === undefined) {
      throw new AppError(AppErrorCode.SsoDisabled, 'single sign-on is not configured on this installation');
    }
    return c;
  }

  /** The IdP's configuration (discovery, cached; a failure is not cached). */
  private configuration(c: SsoConfig): Promise<oidc.Configuration> {
    if (this.#configuration?.for === c) {
      return this.#configuration.promise;
    }
    const promise = (async () => {
      const issuer = new URL(c.issuer);
      const auth = c.clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(c.clientSecret);
      const metadata = c.clientSecret === undefined ? { token_endpoint_auth_method: 'none' } : {};
      // http only for an issuer on this machine (sso-config.ts refuses any other): local IdPs and tests.
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- deprecated only to stand out; meant for exactly this
      const insecure = issuer.protocol === 'http:' && isLoopbackUrl(issuer) ? { execute: [oidc.allowInsecureRequests] } : {};
      return oidc.discovery(issuer, c.clientId, metadata, auth, { timeout: 10, ...insecure });
    })().catch((e: unknown) => {
      if (this.#configuration?.promise === promise) {
        this.#configuration = undefined;
      }
      throw e;
    });
    this.#configuration = { for: c, promise };
    return promise;
  }

  /**
   * GET /api/v1/auth/sso/start: the IdP's authorization URL and the browser binding to set as the
   * cookie. 404 SSO_DISABLED when SSO is off, 429 past the per-address limit; an IdP that cannot be
   * discovered sends the browser back with `#sso-error=idp-unavailable`.
   */
  async start(meta: { ip: string }): Promise<{ location: string; binding?: string }> {
    const c = this.enabled();
    const taken = await this.#startLimiter.take(clientKey(meta.ip));
    if (!taken.allowed) {
      throw new AppError(AppErrorCode.RateLimited, 'too many sign-ins started from this address; try again later', { retryAfterSeconds: taken.retryAfterSeconds });
    }
    let configuration: oidc.Configuration;
    try {
      configuration = await this.configuration(c);
    } catch (e) {
      this.deps.logger.warn('sso: identity provider discovery failed', { ...describe(e), issuer: c.issuer });
      return { location: errorLocation('idp-unavailable') };
    }
    const now = this.deps.now();
    await ssoStore.pruneExpired(this.deps.db, now);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const binding = randomBytes(32).toString('base64url');
    await ssoStore.addLogin(this.deps.db, { stateHash: sha256(state), bindingHash: sha256(binding), nonce, codeVerifier, createdAt: now, expiresAt: new Date(now.getTime() + SSO_LOGIN_TTL_MS) });
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: c.redirectUrl,
      response_type: 'code',
      scope: SSO_SCOPE,
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return { location: url.href, binding };
  }

  /**
   * GET /api/v1/auth/sso/callback: always a redirect to the console, `/#sso-code=<one-time code>`
   * or `/#sso-error=<reason>`. `query` is the callback's query string as the IdP sent it; `binding`
   * the `xp_sso` cookie.
   */
  async callback(query: Readonly<Record<string, string>>, binding: string | undefined, meta: { ip: string; client: string }): Promise<SsoRedirect> {
    const c = this.config;
    if (c === undefined) {
      return { location: errorLocation('idp-unavailable') };
    }
    try {
      const code = await this.finish(c, query, binding, meta);
      return { location: `/#sso-code=${encodeURIComponent(code)}` };
    } catch (e) {
      if (!(e instanceof SsoRefusal)) {
        throw e;
      }
      this.deps.logger.warn('sso sign-in refused', { reason: e.reason, ...(e.detail.why === undefined ? {} : { why: e.detail.why }), ip: meta.ip });
      if (e.reason !== 'expired') {
        // After the IdP answered (an expired or unbound state is anyone's request, not recorded).
        await this.recordFailure(e, meta);
      }
      return { location: errorLocation(e.reason) };
    }
  }

  private async finish(c: SsoConfig, query: Readonly<Record<string, string>>, binding: string | undefined, meta: { ip: string; client: string }): Promise<string> {
    const state = query.state;
    const login = state === undefined || state === '' ? undefined : await ssoStore.takeLogin(this.deps.db, sha256(state));
    const bound = login !== undefined && binding !== undefined && binding !== '' && sameHash(login.bindingHash, sha256(binding));
    if (query.error !== undefined) {
      // The IdP refused or the user cancelled: recorded only for a flow this browser started.
      throw new SsoRefusal(bound ? 'denied' : 'expired', { why: `idp error ${query.error.slice(0, 64)}` });
    }
    if (login === undefined || state === undefined) {
      throw new SsoRefusal('expired', { why: 'unknown or used state' });
    }
    if (login.expiresAt.getTime() <= this.deps.now().getTime()) {
      throw new SsoRefusal('expired', { why: 'expired state' });
    }
    if (!bound) {
      throw new SsoRefusal('expired', { why: binding === undefined ? 'no binding cookie' : 'binding cookie mismatch' });
    }
    let configuration: oidc.Configuration;
    try {
      configuration = await this.configuration(c);
    } catch (e) {
      this.deps.logger.warn('sso: identity provider discovery failed', { ...describe(e), issuer: c.issuer });
      throw new SsoRefusal('idp-unavailable');
    }
    const current = new URL(c.redirectUrl);
    for (const [k, v] of Object.entries(query)) {
      current.searchParams.set(k, v);
    }
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(configuration, current, { pkceCodeVerifier: login.codeVerifier, expectedState: state, expectedNonce: login.nonce, idTokenExpected: true });
      const idClaims = tokens.claims();
      if (idClaims === undefined) {
        throw new SsoRefusal('invalid-response', { why: 'no ID token' });
      }
      claims = { ...idClaims };
      const userinfo = configuration.serverMetadata().userinfo_endpoint;
      const needsGroups = c.groupsClaim !== undefined && !(c.groupsClaim in claims);
      // Claims of the scopes asked for may come only from userinfo (a conforming IdP puts them there).
      if ((stringClaim(claims, 'email') === undefined || needsGroups) && userinfo !== undefined && tokens.access_token !== '') {
        // The ID token's claims win; userinfo adds what it lacks (its subject is checked to be the same).
        claims = { ...(await oidc.fetchUserInfo(configuration, tokens.access_token, idClaims.sub)), ...claims };
      }
    } catch (e) {
      if (e instanceof SsoRefusal) {
        throw e;
      }
      const reason = unavailable(e) ? 'idp-unavailable' : 'invalid-response';
      this.deps.logger.warn('sso: code exchange or ID token check failed', { ...describe(e), reason });
      throw new SsoRefusal(reason, { why: e instanceof Error ? e.message.slice(0, 100) : undefined });
    }
    const issuer = configuration.serverMetadata().issuer;
    const subject = stringClaim(claims, 'sub');
    if (subject === undefined) {
      throw new SsoRefusal('invalid-response', { why: 'no subject' });
    }
    const email = stringClaim(claims, 'email');
    if (email === undefined || !EMAIL.test(email) || email.length > 320) {
      throw new SsoRefusal('email-unverified', { why: 'no usable email claim' });
    }
    if (!emailVerified(claims)) {
      throw new SsoRefusal('email-unverified', { email });
    }
    const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
    if (domain === SERVICE_ACCOUNT_EMAIL_DOMAIN) {
      // A service account's handle: nobody signs in as one (by SSO or with a password).
      throw new SsoRefusal('invalid-response', { email, why: "a service account's address" });
    }
    if (c.allowedDomains.length > 0 && !c.allowedDomains.includes(domain)) {
      throw new SsoRefusal('domain-not-allowed', { email });
    }
    const groups = groupsOf(claims, c.groupsClaim);
    const name = stringClaim(claims, 'name');
    const user = await this.resolve(c, { issuer, subject, email, name, groups }, meta).catch(async (e: unknown) => {
      // Two first sign-ins at once: the second finds the user the first created.
      if (e instanceof AppError && e.code === AppErrorCode.AlreadyExists) {
        return this.resolve(c, { issuer, subject, email, name, groups }, meta);
      }
      throw e;
    });
    const code = generateToken(TokenKind.Session);
    await ssoStore.addCode(this.deps.db, { codeHash: hashToken(code), bindingHash: login.bindingHash, userId: user.id, expiresAt: new Date(this.deps.now().getTime() + SSO_CODE_TTL_MS) });
    return code;
  }

  /** The user of an IdP identity: by (iss, sub), else by email (then linked), else created; the role map applied. */
  private async resolve(c: SsoConfig, who: { issuer: string; subject: string; email: string; name: string | undefined; groups: readonly string[] }, meta: { ip: string; client: string }): Promise<User> {
    const mapped = mappedRole(c, who.groups);
    return this.deps.db.withTransaction(async (tx) => {
      const linkedId = await ssoStore.userIdByIdentity(tx, who.issuer, who.subject);
      let user = linkedId === undefined ? undefined : await users.find(tx, (await this.orgOfUser(tx, linkedId))!, linkedId);
      let created = false;
      if (user === undefined) {
        const byEmail = await users.findByEmail(tx, who.email);
        if (byEmail !== undefined) {
          if (byEmail.disabled) {
            throw new SsoRefusal('account-disabled', { email: who.email, user: byEmail });
          }
          if ((await ssoStore.identityOf(tx, byEmail.id)) !== undefined || !(await ssoStore.link(tx, byEmail.id, who.issuer, who.subject))) {
            // Already linked to another identity of an IdP: the email alone does not take the account over.
            throw new SsoRefusal('invalid-response', { email: who.email, user: byEmail, why: 'account linked to another identity' });
          }
          user = byEmail;
        } else {
          const orgId = await this.firstOrg(tx);
          if (orgId === undefined) {
            throw new AppError(AppErrorCode.Unavailable, 'the installation has no organisation yet');
          }
          const parsedName = nameSchema.safeParse(who.name);
          const local = who.email.slice(0, who.email.lastIndexOf('@'));
          const name = parsedName.success ? parsedName.data : nameSchema.safeParse(local).success ? local : who.email;
          user = await users.create(tx, { id: this.deps.newId(), orgId, email: who.email, name, role: mapped ?? c.defaultRole, passwordHash: null });
          await ssoStore.link(tx, user.id, who.issuer, who.subject);
          created = true;
        }
      }
      if (user.disabled) {
        throw new SsoRefusal('account-disabled', { email: who.email, user });
      }
      const actor = this.actorOf(user, meta);
      if (created) {
        await record(tx, actor, { projectId: null, action: 'user.created', resourceType: 'user', resourceKey: user.id, before: undefined, after: { email: user.email, name: user.name, role: user.role, via: 'sso' } });
      } else if (mapped !== undefined && user.role !== Role.Owner && mapped !== user.role) {
        const before = user;
        user = await users.update(tx, user.orgId, user.id, user.version, { role: mapped });
        await record(tx, actor, { projectId: null, action: 'user.updated', resourceType: 'user', resourceKey: user.id, before: { role: before.role }, after: { role: user.role, via: 'sso', groups: who.groups.filter((g) => c.roleMap.has(g)) } });
        if (ROLE_RANK[user.role] < ROLE_RANK[before.role]) {
          // Approvals the user gave with the higher role no longer count.
          await withdrawLapsedApprovals(tx, actor, user.id);
        }
      }
      return user;
    });
  }

  private async orgOfUser(db: Queryable, id: string): Promise<string | undefined> {
    const r = await db.query<{ org_id: string }>('SELECT org_id FROM users WHERE id = $1', [id]);
    return r.rows[0]?.org_id;
  }

  /** The organisation new SSO users join: the installation's first. */
  private firstOrg(db: Queryable): Promise<string | undefined> {
    this.#firstOrg ??= db
      .query<{ id: string }>('SELECT id FROM organizations ORDER BY created_at, id LIMIT 1')
      .then((r) => r.rows[0]?.id)
      .catch((e: unknown) => {
        this.#firstOrg = undefined;
        throw e;
      });
    return this.#firstOrg;
  }

  private actorOf(user: Pick<User, 'id' | 'orgId' | 'email' | 'role'>, meta: { ip: string; client: string }, sessionId?: string): Actor {
    return { userId: user.id, orgId: user.orgId, email: user.email, role: user.role, client: meta.client, ip: meta.ip, ...(sessionId === undefined ? {} : { credential: { kind: 'session', id: sessionId } }) };
  }

  /** `user.login-failed` with `via: 'sso'`; a failure to record is logged, and the answer stays. */
  private async recordFailure(refusal: SsoRefusal, meta: { ip: string; client: string }): Promise<void> {
    try {
      const orgId = refusal.detail.user?.orgId ?? (await this.firstOrg(this.deps.db));
      if (orgId === undefined) {
        return;
      }
      await recordUnauthenticated(this.deps.db, {
        orgId,
        client: meta.client,
        ip: meta.ip,
        action: 'user.login-failed',
        resourceType: 'user',
        resourceKey: refusal.detail.user?.id ?? UNKNOWN_USER_KEY,
        after: { via: 'sso', reason: refusal.reason, ...(refusal.detail.email === undefined ? {} : { email: refusal.detail.email }), ip: meta.ip },
      });
    } catch (e) {
      this.deps.logger.error('failed sso sign-in not audited', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  /**
   * POST /api/v1/auth/sso/exchange: the one-time code of the callback, with the cookie of the
   * browser that started the sign-in, for a session (as login answers). 401 for an unknown, used or
   * expired code, or another browser's.
   */
  async exchange(code: string, binding: string | undefined, meta: { ip: string; client: string }): Promise<{ token: string; expiresAt: string; user: User }> {
    const refused = (): AppError => new AppError(AppErrorCode.Unauthenticated, SSO_CODE_REFUSED);
    // Taken (deleted) first: a code is tried once, whoever sends it.
    const taken = await ssoStore.takeCode(this.deps.db, hashToken(code));
    const now = this.deps.now();
    if (taken === undefined || taken.expiresAt.getTime() <= now.getTime() || binding === undefined || binding === '' || !sameHash(taken.bindingHash, sha256(binding))) {
      throw refused();
    }
    const token = generateToken(TokenKind.Session);
    const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
    const sessionId = this.deps.newId();
    const user = await this.deps.db.withTransaction(async (tx) => {
      const orgId = await this.orgOfUser(tx, taken.userId);
      const found = orgId === undefined ? undefined : await users.find(tx, orgId, taken.userId);
      // Disabled within the code's minute: no session.
      if (found === undefined || found.disabled || found.kind !== 'person') {
        throw refused();
      }
      await users.lockForShare(tx, found.id);
      await credentials.createSession(tx, { id: sessionId, userId: found.id, tokenHash: hashToken(token), client: meta.client, expiresAt });
      await record(tx, this.actorOf(found, meta, sessionId), { projectId: null, action: 'user.logged-in', resourceType: 'user', resourceKey: found.id, before: undefined, after: { via: 'sso' } });
      return found;
    });
    return { token, expiresAt: expiresAt.toISOString(), user };
  }
}

/** The console's address for a refused sign-in. */
export function errorLocation(reason: SsoErrorReason): string {
  return `/#sso-error=${reason}`;
}
