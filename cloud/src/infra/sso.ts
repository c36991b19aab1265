/**
 * Single sign-on on AWS: the configuration's `sso` block (config.ts ssoSchema) as the management API
 * function's XP_SSO_* variables (the contract of cloud/src/auth/sso-config.ts, docs/sso.md), and the
 * client secret's ARN (XP_SSO_CLIENT_SECRET_ARN) with `secretsmanager:GetSecretValue` on exactly that secret. The secret's
 * value never enters the template: the function reads it at cold start. And the SSO egress function:
 * the API runs in the VPC without a route to the internet, so its requests to the IdP go through it.
 */
import { Duration } from 'aws-cdk-lib';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { SSO_CALLBACK_PATH, SSO_ENV } from '../auth/sso-config.js';
import { EnvVar } from '../functions/runtime.js';
import { FunctionEntry } from './bundling.js';
import type { XpConfig } from './config.js';
import { XpFunction } from './xp-function.js';
import type { CodeFactory } from './xp-function.js';

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
    ...(sso.linkOwners ? { [SSO_ENV.linkOwners]: 'true' } : {}),
    ...(sso.roleMapAuthoritative ? { [SSO_ENV.roleMapAuthoritative]: 'true' } : {}),
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

/** The egress function's timeout: the 10 s IdP timeout (sso-egress-protocol.ts) and a margin. */
export const SSO_EGRESS_TIMEOUT_SECONDS = 15;

export interface SsoEgressProps {
  readonly config: Pick<XpConfig, 'sso' | 'stage' | 'tracing'>;
  readonly logRetention: logs.RetentionDays;
  /** Default: the bundled entry point. */
  readonly code?: CodeFactory;
}

/**
 * The SSO egress function, outside the VPC (the IdP is on the internet and the VPC has no NAT), with
 * nothing but the issuer (XP_SSO_ISSUER): it sends the API's requests to the issuer's discovery URL
 * and the endpoints that document names, and nowhere else. Its role may only write its own logs.
 * Undefined when the configuration has no `sso`.
 */
export function createSsoEgress(scope: Construct, id: string, props: SsoEgressProps): XpFunction | undefined {
  const { sso } = props.config;
  if (sso === undefined) {
    return undefined;
  }
  return new XpFunction(scope, id, {
    entry: FunctionEntry.SsoEgress,
    stage: props.config.stage,
    tracing: props.config.tracing,
    memorySize: 256,
    timeout: Duration.seconds(SSO_EGRESS_TIMEOUT_SECONDS),
    logRetention: props.logRetention,
    description: "xp SSO egress: the API's requests to the identity provider (outside the VPC)",
    environment: { [SSO_ENV.issuer]: sso.issuer },
    ...(props.code === undefined ? {} : { code: props.code }),
  });
}

/** Lets the API function send its requests to the IdP through the egress function: its name, and invoke on exactly it. */
export function bindSsoEgress(api: XpFunction, egress: XpFunction | undefined): void {
  if (egress !== undefined) {
    api.bindInvoke(egress.function, EnvVar.SsoEgressFunction);
  }
}
