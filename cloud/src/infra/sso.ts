/**
 * Single sign-on on AWS: the configuration's `sso` block (config.ts ssoSchema) as the management API
 * function's XP_SSO_* variables (the contract of cloud/src/auth/sso-config.ts, docs/sso.md), and the
 * client secret's ARN (XP_SSO_CLIENT_SECRET_ARN) with `secretsmanager:GetSecretValue` on exactly that secret. The secret's
 * value never enters the template: the function reads it at cold start.
 */
import { SSO_CALLBACK_PATH, SSO_ENV } from '../auth/sso-config.js';
import type { XpConfig } from './config.js';
import type { XpFunction } from './xp-function.js';

export { SSO_CALLBACK_PATH, SSO_ENV };

type SsoConfig = NonNullable<XpConfig['sso']>;

/**
 * The callback URL registered at the IdP: `sso.redirectUrl`, else the console's custom domain and
 * SSO_CALLBACK_PATH. The *.cloudfront.net name cannot be derived here: the console stack depends on
 * the api stack (API endpoint, edge token), so the api stack cannot refer back to the distribution
 * (the configuration refuses `sso` with neither).
 */
export function ssoRedirectUrl(config: { readonly sso?: { readonly redirectUrl?: string | undefined } | undefined; readonly consoleDomain?: { readonly name: string } | undefined }): string {
  if (config.sso?.redirectUrl !== undefined) {
    return config.sso.redirectUrl;
  }
  if (config.consoleDomain === undefined) {
    throw new Error('sso.redirectUrl is required without consoleDomain');
  }
  return `https://${config.consoleDomain.name}${SSO_CALLBACK_PATH}`;
}

/** The XP_SSO_* variables of a configuration, except the secret's ARN (bindSso grants and sets it). */
export function ssoEnvironment(sso: SsoConfig, redirectUrl: string): Record<string, string> {
  return {
    [SSO_ENV.issuer]: sso.issuer,
    [SSO_ENV.clientId]: sso.clientId,
    [SSO_ENV.redirectUrl]: redirectUrl,
    [SSO_ENV.enforced]: String(sso.enforced),
    ...(sso.name === undefined ? {} : { [SSO_ENV.name]: sso.name }),
    ...(sso.allowedDomains.length === 0 ? {} : { [SSO_ENV.allowedDomains]: sso.allowedDomains.join(',') }),
    ...(sso.defaultRole === undefined ? {} : { [SSO_ENV.defaultRole]: sso.defaultRole }),
    ...(sso.groupsClaim === undefined ? {} : { [SSO_ENV.groupsClaim]: sso.groupsClaim }),
    ...(sso.roleMap === undefined ? {} : { [SSO_ENV.roleMap]: Object.entries(sso.roleMap).map(([group, role]) => `${group}=${role}`).join(',') }),
  };
}

/** Gives the function the configuration's SSO settings; nothing when `sso` is not set. */
export function bindSso(fn: XpFunction, config: Pick<XpConfig, 'sso' | 'consoleDomain'>): void {
  const { sso } = config;
  if (sso === undefined) {
    return;
  }
  for (const [name, value] of Object.entries(ssoEnvironment(sso, ssoRedirectUrl(config)))) {
    fn.setEnvironment(name, value);
  }
  if (sso.clientSecretArn !== undefined) {
    // The complete ARN (the configuration requires its suffix): GetSecretValue on that one secret, no wildcard.
    fn.bindSecret({ secretArn: sso.clientSecretArn }, SSO_ENV.clientSecretArn);
  }
}
