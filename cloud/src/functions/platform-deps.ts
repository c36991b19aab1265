/**
 * What the functions that act on the platform's definitions need (the API, the alarm rollback, the
 * guardrail check, the webhook dispatcher): PostgreSQL, the DynamoDB ruleset projection to publish
 * to, a clock, ids, a logger, and for webhooks the platform key and the sender function where configured.
 */
import { randomUUID } from 'node:crypto';
import { PlatformKey } from '../auth/platform-key.js';
import { SSO_ENV, loadSsoConfig, warnOfOpenSso } from '../auth/sso-config.js';
import type { SsoConfig } from '../auth/sso-config.js';
import type { Deps, Logger } from '../domain/context.js';
import { createDynamoClient, createDynamoRulesetStore } from '../store/ruleset-store.js';
import { EnvVar, connectDatabase, functionLogger, optional, required, secretsManagerReader } from './runtime.js';
import type { SecretReader } from './runtime.js';
import { lambdaSender } from './webhook-lambda-sender.js';

/**
 * The platform key from XP_PLATFORM_KEY (local runs), else from the secret in
 * XP_PLATFORM_KEY_SECRET_ARN; none when neither is set (webhook endpoints then answer 503).
 * A configured but unusable key throws, so a misconfigured deployment fails loudly.
 */
export async function platformKeyFromEnv(env: NodeJS.ProcessEnv, readSecret: SecretReader = secretsManagerReader): Promise<PlatformKey | undefined> {
  const plain = optional(env, EnvVar.PlatformKey);
  if (plain !== undefined) {
    return PlatformKey.fromString(plain);
  }
  const arn = optional(env, EnvVar.PlatformKeySecretArn);
  return arn === undefined ? undefined : PlatformKey.fromString(await readSecret(arn));
}

/**
 * The SSO settings (XP_SSO_*; auth/sso-config.ts), the client secret from XP_SSO_CLIENT_SECRET or,
 * in AWS, from the Secrets Manager secret in XP_SSO_CLIENT_SECRET_ARN (read only when SSO is on);
 * undefined when SSO is off. A bad value throws, naming the variable, so the cold start fails loudly;
 * SSO open to any verified email (no XP_SSO_ALLOWED_DOMAINS) is warned of once, at the cold start.
 * Read by the API function only (functions/api.ts): the others sign nobody in.
 */
export async function ssoConfigFromEnv(env: NodeJS.ProcessEnv, readSecret: SecretReader = secretsManagerReader, logger: Logger = functionLogger()): Promise<SsoConfig | undefined> {
  const set = (name: string): string | undefined => (env[name]?.trim() === '' ? undefined : env[name]);
  const arn = set(SSO_ENV.clientSecretArn);
  // Both the secret and its ARN: loadSsoConfig refuses them, naming both, before any secret is read.
  const sso =
    arn === undefined || set(SSO_ENV.issuer) === undefined || set(SSO_ENV.clientSecret) !== undefined
      ? loadSsoConfig(env)
      : loadSsoConfig({ ...env, [SSO_ENV.clientSecretArn]: undefined, [SSO_ENV.clientSecret]: await readSecret(arn) });
  warnOfOpenSso(sso, logger);
  return sso;
}

export async function platformDeps(env: NodeJS.ProcessEnv, logger: Logger, readSecret?: SecretReader): Promise<Deps> {
  // The key first: a bad key then fails the cold start before a pool is opened (and leaked).
  const platformKey = await platformKeyFromEnv(env, readSecret);
  // In the VPC, webhook requests leave through the sender function; elsewhere by HTTP from this process.
  const senderFunction = optional(env, EnvVar.WebhookSenderFunction);
  return {
    db: await connectDatabase(env, readSecret),
    rulesets: createDynamoRulesetStore({ client: createDynamoClient(optional(env, EnvVar.DynamodbEndpoint)), tableName: required(env, EnvVar.RulesetTable) }),
    now: () => new Date(),
    newId: () => randomUUID(),
    logger,
    ...(platformKey === undefined ? {} : { platformKey }),
    ...(senderFunction === undefined ? {} : { webhookSender: lambdaSender({ functionName: senderFunction, logger }) }),
  };
}
