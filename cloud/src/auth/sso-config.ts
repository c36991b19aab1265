/**
 * Single sign-on (OpenID Connect) settings, from the environment (`xp start` and the API Lambda).
 * Parsed and checked once at start: a bad value stops the start with a message naming the variable,
 * never echoing the client secret. SSO is off unless XP_SSO_ISSUER is set. The settings live in the
 * environment, not the database: the client secret never lands in PostgreSQL.
 */
import { z } from 'zod';
import { ROLE_RANK, Role } from '@xp/shared';
import type { Logger } from '../domain/context.js';

/** The environment variables, by setting. */
export const SSO_ENV = {
  issuer: 'XP_SSO_ISSUER',
  clientId: 'XP_SSO_CLIENT_ID',
  clientSecret: 'XP_SSO_CLIENT_SECRET',
  /** In AWS: the Secrets Manager secret holding the client secret (resolved by the API Lambda at cold start). */
  clientSecretArn: 'XP_SSO_CLIENT_SECRET_ARN',
  redirectUrl: 'XP_SSO_REDIRECT_URL',
  name: 'XP_SSO_NAME',
  allowedDomains: 'XP_SSO_ALLOWED_DOMAINS',
  defaultRole: 'XP_SSO_DEFAULT_ROLE',
  groupsClaim: 'XP_SSO_GROUPS_CLAIM',
  roleMap: 'XP_SSO_ROLE_MAP',
  enforced: 'XP_SSO_ENFORCED',
  linkOwners: 'XP_SSO_LINK_OWNERS',
  roleMapAuthoritative: 'XP_SSO_ROLE_MAP_AUTHORITATIVE',
} as const;

/** The path of the callback route; the redirect URL registered at the IdP must end with it. */
export const SSO_CALLBACK_PATH = '/api/v1/auth/sso/callback';

/** Roles SSO may give (a new user's default, a group's mapped role): never owner. */
export type SsoRole = Exclude<Role, 'owner'>;

export interface SsoConfig {
  /** The issuer URL as configured (discovery at `<issuer>/.well-known/openid-configuration`). */
  readonly issuer: string;
  readonly clientId: string;
  /** Absent: a public client (PKCE only, token_endpoint_auth_method none). */
  readonly clientSecret?: string | undefined;
  /** The callback URL registered at the IdP: `<console origin>/api/v1/auth/sso/callback`. */
  readonly redirectUrl: string;
  /** The redirect URL was not given (XP_SSO_REDIRECT_URL) but derived from the local console port. */
  readonly redirectUrlDefaulted: boolean;
  /** The button's label ("Sign in with Okta"). */
  readonly name: string;
  /** Lower-case email domains that may sign in; empty: any verified email. */
  readonly allowedDomains: readonly string[];
  readonly defaultRole: SsoRole;
  /** The ID-token / userinfo claim holding the user's groups (with `roleMap`). */
  readonly groupsClaim?: string | undefined;
  /** Group → role; at each SSO sign-in a user in mapped groups gets the highest of their roles (owners never change). */
  readonly roleMap: ReadonlyMap<string, SsoRole>;
  /** Password sign-in is refused (403 SSO_REQUIRED) for everyone but owners. */
  readonly enforced: boolean;
  /** An existing owner may be linked to an IdP identity by email (default false: owners are the break-glass accounts). */
  readonly linkOwners: boolean;
  /** The role map decides alone: a (non-owner) person in no mapped group gets the default role at each sign-in. */
  readonly roleMapAuthoritative: boolean;
}

/** A bad XP_SSO_* value: the message names the variable (and never holds the client secret). */
export class SsoConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'SsoConfigError';
  }
}

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether a URL's host is this machine (http is allowed there, for local IdPs and tests). */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

const SSO_ROLES = [Role.Admin, Role.Editor, Role.Analyst, Role.Viewer] as const;
const ssoRoleSchema = z.enum(SSO_ROLES, { error: `must be one of ${SSO_ROLES.join(', ')} (never owner)` });
const nameSchema = z
  .string()
  .max(40, { error: 'must be at most 40 characters' })
  .regex(/^[^\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]*$/u, { error: 'must not contain control characters or bidirectional overrides' })
  .regex(/[^\p{Cf}\p{Z}\s]/u, { error: 'must contain a visible character' });
const clientIdSchema = z.string().max(512, { error: 'must be at most 512 characters' }).regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' });
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;
const CLAIM = /^[A-Za-z0-9_:./-]{1,128}$/;

function text(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function check<T>(variable: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new SsoConfigError(variable, result.error.issues[0]?.message ?? 'invalid');
  }
  return result.data;
}

/** An https URL, or http on localhost / 127.0.0.1 / [::1]. */
function endpoint(variable: string, value: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SsoConfigError(variable, `"${value.slice(0, 200)}" is not a URL (expected ${what})`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackUrl(url))) {
    throw new SsoConfigError(variable, `must be an https URL (http only on localhost, 127.0.0.1 or [::1]); got ${url.protocol}//${url.host}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new SsoConfigError(variable, 'must not hold a user name or password');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new SsoConfigError(variable, 'must not have a query or fragment');
  }
  return url;
}

function bool(variable: string, value: string | undefined): boolean {
  if (value === undefined) {
    return false;
  }
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') {
    return true;
  }
  if (v === 'false' || v === '0') {
    return false;
  }
  throw new SsoConfigError(variable, `must be true or false, not "${value.slice(0, 20)}"`);
}

function roleMapOf(variable: string, value: string | undefined): Map<string, SsoRole> {
  const map = new Map<string, SsoRole>();
  if (value === undefined) {
    return map;
  }
  for (const entry of value.split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') {
      continue;
    }
    const at = trimmed.lastIndexOf('=');
    if (at <= 0) {
      throw new SsoConfigError(variable, `"${trimmed.slice(0, 100)}" is not group=role`);
    }
    const group = trimmed.slice(0, at).trim();
    const role = check(`${variable} (${group.slice(0, 100)})`, ssoRoleSchema, trimmed.slice(at + 1).trim());
    if (map.has(group)) {
      throw new SsoConfigError(variable, `the group "${group.slice(0, 100)}" is mapped twice`);
    }
    map.set(group, role);
  }
  if (map.size === 0) {
    throw new SsoConfigError(variable, 'is set but maps no group (expected group=role,group=role)');
  }
  return map;
}

/**
 * The SSO settings from the environment, or undefined when XP_SSO_ISSUER is not set (SSO off).
 * `defaults.redirectUrl`: the callback URL when XP_SSO_REDIRECT_URL is not set (`xp start`: the
 * local console's); without one, XP_SSO_REDIRECT_URL is required. Throws SsoConfigError.
 */
export function loadSsoConfig(env: Readonly<Record<string, string | undefined>>, defaults: { readonly redirectUrl?: string | undefined } = {}): SsoConfig | undefined {
  const issuerText = text(env, SSO_ENV.issuer);
  if (issuerText === undefined) {
    // Enforcement without SSO would be believed to be on while every password still works.
    if (bool(SSO_ENV.enforced, text(env, SSO_ENV.enforced))) {
      throw new SsoConfigError(SSO_ENV.enforced, `is true but ${SSO_ENV.issuer} is not set: configure the identity provider, or leave ${SSO_ENV.enforced} unset`);
    }
    return undefined;
  }
  endpoint(SSO_ENV.issuer, issuerText, "the identity provider's issuer URL");
  const clientIdText = text(env, SSO_ENV.clientId);
  if (clientIdText === undefined) {
    throw new SsoConfigError(SSO_ENV.clientId, `is required with ${SSO_ENV.issuer}`);
  }
  const clientId = check(SSO_ENV.clientId, clientIdSchema, clientIdText);
  // Checked without ever quoting it.
  const secret = env[SSO_ENV.clientSecret];
  // One source for the secret: with both, which one wins would be a guess (the Lambda resolves the
  // ARN into XP_SSO_CLIENT_SECRET and leaves the ARN out of what it passes here).
  if (secret !== undefined && secret !== '' && text(env, SSO_ENV.clientSecretArn) !== undefined) {
    throw new SsoConfigError(SSO_ENV.clientSecretArn, `is set together with ${SSO_ENV.clientSecret}: give the client secret one way, ${SSO_ENV.clientSecret} or (in AWS) ${SSO_ENV.clientSecretArn}, not both`);
  }
  if (secret !== undefined && secret !== '' && (secret.trim() === '' || secret.length > 1024 || /[\x00-\x1f\x7f]/.test(secret))) {
    throw new SsoConfigError(SSO_ENV.clientSecret, 'must be 1-1024 characters without control characters or blank (value not shown)');
  }
  const redirectText = text(env, SSO_ENV.redirectUrl) ?? defaults.redirectUrl;
  if (redirectText === undefined) {
    throw new SsoConfigError(SSO_ENV.redirectUrl, `is required with ${SSO_ENV.issuer}: the console's origin followed by ${SSO_CALLBACK_PATH}`);
  }
  const redirect = endpoint(SSO_ENV.redirectUrl, redirectText, `<console origin>${SSO_CALLBACK_PATH}`);
  if (redirect.pathname !== SSO_CALLBACK_PATH) {
    throw new SsoConfigError(SSO_ENV.redirectUrl, `must be the console's origin followed by ${SSO_CALLBACK_PATH}, not a URL ending in ${redirect.pathname.slice(0, 200)}`);
  }
  const name = check(SSO_ENV.name, nameSchema, text(env, SSO_ENV.name) ?? 'SSO');
  const allowedDomains = (text(env, SSO_ENV.allowedDomains) ?? '')
    .split(',')
    .map((d) => d.trim().toLowerCase().replace(/^@/, ''))
    .filter((d) => d !== '');
  for (const domain of allowedDomains) {
    if (!DOMAIN.test(domain)) {
      throw new SsoConfigError(SSO_ENV.allowedDomains, `"${domain.slice(0, 100)}" is not an email domain (expected example.com,example.org)`);
    }
  }
  const defaultRole = check(SSO_ENV.defaultRole, ssoRoleSchema, text(env, SSO_ENV.defaultRole)?.toLowerCase() ?? Role.Viewer);
  const groupsClaim = text(env, SSO_ENV.groupsClaim);
  if (groupsClaim !== undefined && !CLAIM.test(groupsClaim)) {
    throw new SsoConfigError(SSO_ENV.groupsClaim, `"${groupsClaim.slice(0, 100)}" is not a claim name`);
  }
  const roleMap = roleMapOf(SSO_ENV.roleMap, text(env, SSO_ENV.roleMap));
  if (groupsClaim === undefined && roleMap.size > 0) {
    throw new SsoConfigError(SSO_ENV.groupsClaim, `is required with ${SSO_ENV.roleMap}: the claim holding the user's groups (such as groups)`);
  }
  if (groupsClaim !== undefined && roleMap.size === 0) {
    throw new SsoConfigError(SSO_ENV.roleMap, `is required with ${SSO_ENV.groupsClaim}: group=role,group=role`);
  }
  const roleMapAuthoritative = bool(SSO_ENV.roleMapAuthoritative, text(env, SSO_ENV.roleMapAuthoritative));
  if (roleMapAuthoritative && roleMap.size === 0) {
    // Without a map nobody is in a mapped group: everyone would be set to the default role.
    throw new SsoConfigError(SSO_ENV.roleMapAuthoritative, `is true but ${SSO_ENV.roleMap} is not set: every SSO sign-in would reset the person to the default role`);
  }
  return {
    issuer: issuerText,
    clientId,
    ...(secret === undefined || secret === '' ? {} : { clientSecret: secret }),
    redirectUrl: redirect.href,
    redirectUrlDefaulted: text(env, SSO_ENV.redirectUrl) === undefined,
    name,
    allowedDomains,
    defaultRole,
    ...(groupsClaim === undefined ? {} : { groupsClaim }),
    roleMap,
    enforced: bool(SSO_ENV.enforced, text(env, SSO_ENV.enforced)),
    linkOwners: bool(SSO_ENV.linkOwners, text(env, SSO_ENV.linkOwners)),
    roleMapAuthoritative,
  };
}

/** The highest role of the mapped groups among `groups`, or undefined when none is mapped. */
export function mappedRole(config: Pick<SsoConfig, 'roleMap'>, groups: readonly string[]): SsoRole | undefined {
  let best: SsoRole | undefined;
  for (const group of groups) {
    const role = config.roleMap.get(group);
    if (role !== undefined && (best === undefined || ROLE_RANK[role] > ROLE_RANK[best])) {
      best = role;
    }
  }
  return best;
}

/**
 * Warns (once, at start: `xp start`, the API function's cold start) when SSO is on without
 * XP_SSO_ALLOWED_DOMAINS: then every email the IdP calls verified signs in and gets an account,
 * lookalike domains included (a Cyrillic letter, a trailing dot) when the IdP lets anyone in.
 */
export function warnOfOpenSso(config: SsoConfig | undefined, logger: Pick<Logger, 'warn'>): void {
  if (config !== undefined && config.allowedDomains.length === 0) {
    logger.warn(
      `single sign-on is open to any email the identity provider says is verified (${SSO_ENV.allowedDomains} is not set): each gets an xp account at its first sign-in. Set ${SSO_ENV.allowedDomains} to your email domains unless only your company's people can sign in at ${config.issuer}`,
      { issuer: config.issuer },
    );
  }
}
