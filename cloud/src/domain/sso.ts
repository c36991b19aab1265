/**
 * Single sign-on with OpenID Connect: xp as the relying party (openid-client does discovery, PKCE,
 * state and nonce, the code grant and the ID-token checks). The flow:
 *
 * 1. `start`: a pending authorisation (sso_logins: the state's hash, the browser-binding cookie's
 *    hash, nonce, PKCE verifier; 10 minutes) and the IdP's authorization URL. The browser gets the
 *    binding as a cookie of this sign-in's own, `xp_sso_<first 16 hex of SHA-256(state)>` (a second
 *    tab's start does not overwrite the first's).
 * 2. `callback`: the state is taken (single use) only together with its cookie (a callback URL
 *    without its browser's cookie leaves it as it is); the code is traded at the IdP and the ID
 *    token checked; the verified email resolves (or creates) the user; a one-time code (sso_codes,
 *    60 s, bound to the same cookie) goes back in the URL fragment.
 * 3. `exchange`: the one-time code and the same cookie (among the request's `xp_sso_*`) make a
 *    session, answered as login answers; a code without its cookie stays for its browser.
 *
 * A desktop app (RFC 8252: the system browser and a loopback redirect) starts with `app_port` and
 * `app_challenge` (base64url SHA-256 of a verifier only the app holds). The browser still gets the
 * cookie, and the callback still needs it (a victim's browser sent to an attacker's authorization
 * URL at the IdP fails there; sent to an attacker's *start*, it gets the cookie: see below), but
 * once the state is identified the callback sends the outcome to
 * `http://127.0.0.1:<app_port>/sso/callback?…&app_challenge=<challenge>` (the app's listener, which
 * takes nothing without its own challenge), and the code is bound to the challenge instead of the
 * cookie: the app trades it with the verifier, which never left it. A code goes there only after the
 * person confirms, on a page of the xp site showing their email and the code the app shows
 * (ssoConfirmationCode of the challenge): a start link is anyone's to make, with their own port
 * and challenge, and a browser signed in at the IdP would otherwise hand them a session silently.
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
import type { SsoAppBinding } from '../store/sso.js';
import { SERVICE_ACCOUNT_EMAIL_DOMAIN, users } from '../store/users.js';
import type { User } from '../store/users.js';
import { SESSION_TTL_MS, UNKNOWN_USER_KEY, displayNameSchema } from './accounts.js';
import { record, recordUnauthenticated } from './audit-trail.js';
import { withdrawLapsedApprovals } from './change-requests.js';
import type { Actor, Deps } from './context.js';

/** The browser-binding cookies' prefix: each sign-in has its own cookie, `xp_sso_<16 hex>` (ssoCookieName). */
export const SSO_COOKIE_PREFIX = 'xp_sso_';
/** The `xp_sso_*` cookies of a request the exchange looks at, at most. */
export const SSO_EXCHANGE_COOKIES_MAX = 20;
/** The cookie's path: only the SSO routes receive it. */
export const SSO_COOKIE_PATH = '/api/v1/auth/sso';
/** How long a pending authorisation (and the cookie) lives. */
export const SSO_LOGIN_TTL_MS = 10 * 60 * 1000;
/** How long a one-time sign-in code lives. */
export const SSO_CODE_TTL_MS = 60 * 1000;
/**
 * Starts per client address per window: generous, since a whole office can share one address (NAT,
 * proxy); the flood guard is SSO_PENDING_LIMIT.
 */
export const SSO_START_LIMIT = { limit: 600, windowMs: 15 * 60 * 1000 } as const;
/** Unexpired pending sign-ins (rows of sso_logins) at most: past it, starts answer `busy` until some expire. */
export const SSO_PENDING_LIMIT = 20_000;
/** The scopes asked for; a groups claim's scope, when the IdP needs one, is the IdP's configuration. */
export const SSO_SCOPE = 'openid email profile';
/** The message of an unknown, used or expired one-time code, or one sent without its browser's cookie. */
export const SSO_CODE_REFUSED = 'sign-in code expired or already used';

const sha256 = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

/** A desktop app's challenge of its verifier: base64url(SHA-256(verifier)), as PKCE's S256. */
export function ssoAppChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** Whether two strings are equal, in time that does not depend on where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The path of the desktop app's loopback listener that the callback redirects to. */
export const SSO_APP_CALLBACK_PATH = '/sso/callback';

/**
 * Where the callback sends the outcome of a desktop app's sign-in: its listener on 127.0.0.1 (an
 * IPv4 literal, as the app listens: `localhost` may resolve to ::1), the code or the reason in the query.
 */
export function appLocation(app: SsoAppBinding, outcome: { readonly code: string } | { readonly error: SsoErrorReason }): string {
  const query = 'code' in outcome ? `code=${encodeURIComponent(outcome.code)}` : `error=${outcome.error}`;
  // The app's own challenge: not secret, but unknown to a web page or process that only guesses at the
  // port, so the app takes no outcome (a refusal ending its wait, a code of someone else's) without it.
  return `http://127.0.0.1:${String(app.port)}${SSO_APP_CALLBACK_PATH}?${query}&app_challenge=${app.challenge}`;
}

/** The browser-binding cookie of the sign-in of `state`. */
export function ssoCookieName(state: string): string {
  return `${SSO_COOKIE_PREFIX}${sha256(state).slice(0, 16)}`;
}

/** A-Z to a-z, nothing else: Unicode case folding would make `\u212Aim` (KELVIN SIGN) `kim`. */
const asciiLower = (value: string): string => value.replace(/[A-Z]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 32));

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
/** Printable ASCII only: an SSO email with anything else is refused before any lookup. */
const ASCII_EMAIL = /^[\x21-\x7e]+$/;

export interface SsoServiceOptions {
  /** Starts per client address (default: in process memory, SSO_START_LIMIT). */
  readonly startLimiter?: RateLimiter;
}

/** Where the callback sends the browser: the console with the outcome in the fragment, or a desktop app's listener. */
export interface SsoRedirect {
  readonly location: string;
  /**
   * A desktop app's code: not a redirect but a page asking the person to confirm (SSO_APP_CONFIRMATION),
   * whose Continue goes to `location`. A start link anyone can make names the port the code goes to:
   * whoever listens there with the link's verifier would get this person's session.
   */
  readonly confirm?: SsoAppConfirmation;
  /**
   * A desktop app's sign-in: the name of its browser-binding cookie, to clear now (the exchange,
   * which clears a browser's, comes from the app, not this browser).
   */
  readonly clearCookie?: string;
}

/** What the confirmation page of a desktop app's sign-in shows: who signs in, and the code the app shows. */
export interface SsoAppConfirmation {
  /** The email of the person the IdP signed in. */
  readonly email: string;
  /** The app's challenge, whose ssoConfirmationCode the app shows while it waits. */
  readonly challenge: string;
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
      // Every request to the IdP (discovery, token, JWKS, userinfo) goes through it: the configuration keeps it.
      // (Its options are fetch's, but for `body: undefined`, which exactOptionalPropertyTypes tells apart.)
      const { ssoFetch } = this.deps;
      const custom = ssoFetch === undefined ? {} : { [oidc.customFetch]: (url: string, options: oidc.CustomFetchOptions) => ssoFetch(url, options as RequestInit) };
      return oidc.discovery(issuer, c.clientId, metadata, auth, { timeout: 10, ...insecure, ...custom });
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
   * GET /api/v1/auth/sso/start: the IdP's authorization URL and the browser-binding cookie to set
   * (its name and value). 404 SSO_DISABLED when SSO is off. A full-page navigation, so every other
   * outcome is a redirect to the console: `#sso-error=busy` past the per-address limit or with
   * SSO_PENDING_LIMIT sign-ins pending, `#sso-error=idp-unavailable` when the IdP cannot be discovered.
   * `app`: a desktop app's sign-in (its port and challenge, validated by the route), stored with it;
   * its refusals here go to the app's listener (appLocation), which is waiting for them, so the app
   * says why at once instead of waiting out its 10 minutes. (Nothing but the reason goes there.)
   */
  async start(meta: { ip: string }, app?: SsoAppBinding): Promise<{ location: string; cookie?: { readonly name: string; readonly value: string } }> {
    const c = this.enabled();
    const errorLocation = (reason: SsoErrorReason): string => (app === undefined ? consoleErrorLocation(reason) : appLocation(app, { error: reason }));
    const taken = await this.#startLimiter.take(clientKey(meta.ip));
    if (!taken.allowed) {
      this.deps.logger.warn('sso: start refused', { why: 'too many sign-ins started from this address', ip: meta.ip });
      return { location: errorLocation('busy') };
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
    if ((await ssoStore.countPending(this.deps.db, now, SSO_PENDING_LIMIT)) >= SSO_PENDING_LIMIT) {
      // The flood guard: each start writes a row for 10 minutes, whatever the addresses it comes from.
      this.deps.logger.warn('sso: start refused', { why: `${String(SSO_PENDING_LIMIT)} sign-ins pending`, ip: meta.ip });
      return { location: errorLocation('busy') };
    }
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const binding = randomBytes(32).toString('base64url');
    await ssoStore.addLogin(this.deps.db, { stateHash: sha256(state), bindingHash: sha256(binding), nonce, codeVerifier, app, createdAt: now, expiresAt: new Date(now.getTime() + SSO_LOGIN_TTL_MS) });
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: c.redirectUrl,
      response_type: 'code',
      scope: SSO_SCOPE,
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return { location: url.href, cookie: { name: ssoCookieName(state), value: binding } };
  }

  /**
   * GET /api/v1/auth/sso/callback: always a redirect to the console, `/#sso-code=<one-time code>`
   * or `/#sso-error=<reason>`; for a desktop app's sign-in, once its state is identified (taken with
   * its cookie, not expired), to the app's listener (appLocation) instead: a refusal at once, a code
   * through a confirmation page (`confirm`). `query` is the callback's
   * query string as the IdP sent it; `cookies` the request's (the state's own `xp_sso_*` is the binding).
   */
  async callback(query: Readonly<Record<string, string>>, cookies: Readonly<Record<string, string>>, meta: { ip: string; client: string }): Promise<SsoRedirect> {
    const c = this.config;
    if (c === undefined) {
      return { location: consoleErrorLocation('idp-unavailable') };
    }
    // Set by `finish` once the state is identified as a desktop app's: from then on every outcome goes there.
    const found: { app?: SsoAppBinding } = {};
    const clearCookie = (): { clearCookie?: string } => (found.app === undefined || query.state === undefined ? {} : { clearCookie: ssoCookieName(query.state) });
    try {
      const { code, email } = await this.finish(c, query, cookies, meta, found);
      return found.app === undefined
        ? { location: `/#sso-code=${encodeURIComponent(code)}` }
        : { location: appLocation(found.app, { code }), confirm: { email, challenge: found.app.challenge }, ...clearCookie() };
    } catch (e) {
      if (!(e instanceof SsoRefusal)) {
        throw e;
      }
      this.deps.logger.warn('sso sign-in refused', { reason: e.reason, ...(e.detail.why === undefined ? {} : { why: e.detail.why }), ip: meta.ip });
      if (e.reason !== 'expired') {
        // After the IdP answered (an expired or unbound state is anyone's request, not recorded).
        await this.recordFailure(e, meta);
      }
      return found.app === undefined ? { location: consoleErrorLocation(e.reason) } : { location: appLocation(found.app, { error: e.reason }), ...clearCookie() };
    }
  }

  private async finish(c: SsoConfig, query: Readonly<Record<string, string>>, cookies: Readonly<Record<string, string>>, meta: { ip: string; client: string }, found: { app?: SsoAppBinding }): Promise<{ code: string; email: string }> {
    const state = query.state === '' ? undefined : query.state;
    const binding = state === undefined ? undefined : cookies[ssoCookieName(state)];
    // Taken (deleted) only with its browser's cookie: a callback URL alone cannot burn a sign-in.
    const login = state === undefined || binding === undefined || binding === '' ? undefined : await ssoStore.takeLogin(this.deps.db, sha256(state), sha256(binding));
    if (login?.app !== undefined && login.expiresAt.getTime() > this.deps.now().getTime()) {
      // Identified: the app is listening for this sign-in's outcome (an expired one's app has given up).
      found.app = login.app;
    }
    if (query.error !== undefined) {
      // The IdP refused or the user cancelled: recorded only for a flow this browser started.
      throw new SsoRefusal(login !== undefined ? 'denied' : 'expired', { why: `idp error ${query.error.slice(0, 64)}` });
    }
    if (login === undefined || state === undefined) {
      throw new SsoRefusal('expired', { why: binding === undefined ? "no state, or no cookie of the state's sign-in" : "unknown or used state, or another browser's cookie" });
    }
    if (login.expiresAt.getTime() <= this.deps.now().getTime()) {
      throw new SsoRefusal('expired', { why: 'expired state' });
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
    if (!ASCII_EMAIL.test(email)) {
      // Before any lookup: lower() and toLowerCase() fold some of them into ASCII (KELVIN SIGN into k).
      throw new SsoRefusal('invalid-response', { email, why: 'email with a non-ASCII character' });
    }
    if (!emailVerified(claims)) {
      throw new SsoRefusal('email-unverified', { email });
    }
    const domain = asciiLower(email.slice(email.lastIndexOf('@') + 1));
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
    // An app's code is bound to its challenge instead of the cookie: the app, not this browser, trades it.
    await ssoStore.addCode(this.deps.db, {
      codeHash: hashToken(code),
      bindingHash: login.app === undefined ? login.bindingHash : null,
      appChallenge: login.app?.challenge ?? null,
      userId: user.id,
      expiresAt: new Date(this.deps.now().getTime() + SSO_CODE_TTL_MS),
    });
    return { code, email: user.email };
  }

  /** The user of an IdP identity: by (iss, sub), else by email (then linked), else created; the role map applied. */
  private async resolve(c: SsoConfig, who: { issuer: string; subject: string; email: string; name: string | undefined; groups: readonly string[] }, meta: { ip: string; client: string }): Promise<User> {
    const mapped = mappedRole(c, who.groups);
    return this.deps.db.withTransaction(async (tx) => {
      const linkedId = await ssoStore.userIdByIdentity(tx, who.issuer, who.subject);
      let user = linkedId === undefined ? undefined : await users.find(tx, (await this.orgOfUser(tx, linkedId))!, linkedId);
      let created = false;
      let linked = false;
      if (user === undefined) {
        const byEmail = await users.findByEmail(tx, who.email);
        if (byEmail !== undefined) {
          if (asciiLower(byEmail.email) !== asciiLower(who.email)) {
            // lower() in the database folds more than ASCII: a stored address matched only that way is another's.
            throw new SsoRefusal('invalid-response', { email: who.email, user: byEmail, why: 'email matches an account only by Unicode case folding' });
          }
          if (byEmail.disabled) {
            throw new SsoRefusal('account-disabled', { email: who.email, user: byEmail });
          }
          if (byEmail.role === Role.Owner && !c.linkOwners) {
            // Owners are the break-glass accounts: a matching email at the IdP alone does not reach them.
            throw new SsoRefusal('invalid-response', { email: who.email, user: byEmail, why: 'an owner is not linked by email (XP_SSO_LINK_OWNERS is not true)' });
          }
          if ((await ssoStore.identityOf(tx, byEmail.id)) !== undefined || !(await ssoStore.link(tx, byEmail.id, who.issuer, who.subject))) {
            // Already linked to another identity of an IdP: the email alone does not take the account over.
            throw new SsoRefusal('invalid-response', { email: who.email, user: byEmail, why: 'account linked to another identity' });
          }
          user = byEmail;
          linked = true;
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
      // The role the map gives: the highest mapped one; in no mapped group, the default one when the map is authoritative.
      const target = mapped ?? (c.roleMapAuthoritative ? c.defaultRole : undefined);
      if (created) {
        await record(tx, actor, { projectId: null, action: 'user.created', resourceType: 'user', resourceKey: user.id, before: undefined, after: { email: user.email, name: user.name, role: user.role, via: 'sso', issuer: who.issuer, subject: who.subject } });
      } else if (linked) {
        await record(tx, actor, { projectId: null, action: 'user.sso-linked', resourceType: 'user', resourceKey: user.id, before: undefined, after: { issuer: who.issuer, subject: who.subject, email: who.email } });
      }
      if (!created && target !== undefined && user.role !== Role.Owner && target !== user.role) {
        const before = user;
        user = await users.update(tx, user.orgId, user.id, user.version, { role: target });
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
        after: {
          via: 'sso',
          reason: refusal.reason,
          ...(refusal.detail.email === undefined ? {} : { email: refusal.detail.email }),
          ...(refusal.detail.why === undefined ? {} : { why: refusal.detail.why }),
          ip: meta.ip,
        },
      });
    } catch (e) {
      this.deps.logger.error('failed sso sign-in not audited', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  /**
   * POST /api/v1/auth/sso/exchange: the one-time code of the callback, with the cookie of the
   * browser that started the sign-in (one of the request's `xp_sso_*`, SSO_EXCHANGE_COOKIES_MAX at
   * most), for a session (as login answers) and the name of the cookie it used (to clear). A desktop
   * app's code needs, instead, the `verifier` of its challenge (no cookie is looked at; none to
   * clear); a verifier never stands in for a browser code's cookie. 401 for an unknown, used or
   * expired code, or one without its proof (which leaves it as it is, for its rightful holder).
   */
  async exchange(code: string, verifier: string | undefined, cookies: Readonly<Record<string, string>>, meta: { ip: string; client: string }): Promise<{ token: string; expiresAt: string; user: User; cookie: string | undefined }> {
    const refused = (): AppError => new AppError(AppErrorCode.Unauthenticated, SSO_CODE_REFUSED);
    const codeHash = hashToken(code);
    const challenge = (await ssoStore.codeChallenge(this.deps.db, codeHash))?.appChallenge ?? null;
    if (challenge !== null) {
      // A desktop app's code: the verifier's challenge, compared in constant time, and nothing else.
      const taken = verifier !== undefined && sameSecret(ssoAppChallenge(verifier), challenge) ? await ssoStore.takeAppCode(this.deps.db, codeHash, challenge) : undefined;
      if (taken === undefined || taken.expiresAt.getTime() <= this.deps.now().getTime()) {
        throw refused();
      }
      return { ...(await this.session(taken.userId, meta, refused)), cookie: undefined };
    }
    // The binding hash of each candidate cookie → its name.
    const candidates = new Map<string, string>();
    for (const [name, value] of Object.entries(cookies)) {
      if (candidates.size >= SSO_EXCHANGE_COOKIES_MAX) {
        break;
      }
      if (name.startsWith(SSO_COOKIE_PREFIX) && value !== '') {
        candidates.set(sha256(value), name);
      }
    }
    // Taken (deleted) only together with its binding: single use, and nobody else's try burns it.
    const taken = await ssoStore.takeCode(this.deps.db, codeHash, [...candidates.keys()]);
    const binding = taken?.bindingHash ?? null;
    const cookie = binding === null ? undefined : candidates.get(binding);
    if (taken === undefined || cookie === undefined || taken.expiresAt.getTime() <= this.deps.now().getTime()) {
      throw refused();
    }
    return { ...(await this.session(taken.userId, meta, refused)), cookie };
  }

  /** A session for the user of a taken code, answered as login answers, audited as `user.logged-in` via SSO. */
  private async session(userId: string, meta: { ip: string; client: string }, refused: () => AppError): Promise<{ token: string; expiresAt: string; user: User }> {
    const now = this.deps.now();
    const token = generateToken(TokenKind.Session);
    const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
    const sessionId = this.deps.newId();
    const user = await this.deps.db.withTransaction(async (tx) => {
      const orgId = await this.orgOfUser(tx, userId);
      const found = orgId === undefined ? undefined : await users.find(tx, orgId, userId);
      // Disabled within the code's minute: no session.
      if (found === undefined || found.disabled || found.kind !== 'person') {
        throw refused();
      }
      await users.lockForShare(tx, found.id);
      await credentials.createSession(tx, { id: sessionId, userId: found.id, tokenHash: hashToken(token), client: meta.client, expiresAt });
      // The identity the callback found or linked the person by (a link is never replaced).
      const identity = await ssoStore.identityOf(tx, found.id);
      await record(tx, this.actorOf(found, meta, sessionId), {
        projectId: null,
        action: 'user.logged-in',
        resourceType: 'user',
        resourceKey: found.id,
        before: undefined,
        after: { via: 'sso', ...(identity === undefined ? {} : { issuer: identity.issuer, subject: identity.subject }) },
      });
      return found;
    });
    return { token, expiresAt: expiresAt.toISOString(), user };
  }
}

/** The console's address for a refused sign-in. */
export function consoleErrorLocation(reason: SsoErrorReason): string {
  return `/#sso-error=${reason}`;
}
