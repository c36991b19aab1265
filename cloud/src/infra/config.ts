/**
 * The deployment's configuration: a typed, validated object built from an optional JSON file and
 * CDK context (`-c stage=prod -c alarmEmail=ops@example.com`), context winning. Every field has a
 * documented default, so `cdk synth` works with none given.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AuroraPostgresEngineVersion } from 'aws-cdk-lib/aws-rds';
import { Role } from '@xp/shared';
import { z } from 'zod';
import { SSO_CALLBACK_PATH, SsoConfigError, loadSsoConfig } from '../auth/sso-config.js';
import { DEFAULT_EXPLORER_RETENTION_DAYS } from '../store/explorer.js';
import { ssoEnvironment, ssoRedirectUrl } from './sso.js';

/** Retention periods CloudWatch Logs accepts, by days. */
const RETENTION: ReadonlyMap<number, RetentionDays> = new Map([
  [1, RetentionDays.ONE_DAY],
  [3, RetentionDays.THREE_DAYS],
  [5, RetentionDays.FIVE_DAYS],
  [7, RetentionDays.ONE_WEEK],
  [14, RetentionDays.TWO_WEEKS],
  [30, RetentionDays.ONE_MONTH],
  [60, RetentionDays.TWO_MONTHS],
  [90, RetentionDays.THREE_MONTHS],
  [120, RetentionDays.FOUR_MONTHS],
  [150, RetentionDays.FIVE_MONTHS],
  [180, RetentionDays.SIX_MONTHS],
  [365, RetentionDays.ONE_YEAR],
  [400, RetentionDays.THIRTEEN_MONTHS],
  [545, RetentionDays.EIGHTEEN_MONTHS],
  [731, RetentionDays.TWO_YEARS],
  [1096, RetentionDays.THREE_YEARS],
  [1827, RetentionDays.FIVE_YEARS],
  [2192, RetentionDays.SIX_YEARS],
  [2557, RetentionDays.SEVEN_YEARS],
  [2922, RetentionDays.EIGHT_YEARS],
  [3288, RetentionDays.NINE_YEARS],
  [3653, RetentionDays.TEN_YEARS],
]);

/** The stage deployed when none is named; the one stage allowed to go without alarm e-mails or an owner address. */
export const DEV_STAGE = 'dev';
/**
 * Names of throwaway stages: dev, test, sandbox, preview, ci and pr, alone or followed by -… (test-42,
 * pr-17). They get the cheaper defaults (no Aurora reader, 7 days of backups), and the deploy script
 * (cloud/scripts/deploy.mjs, through isDevelopmentStage) deploys them with removalPolicy "destroy"
 * without --allow-destroy-policy.
 */
export const DEVELOPMENT_STAGE = /^(dev|test|sandbox|preview|ci|pr)(-[a-z0-9-]+)?$/;

/** Whether `stage` names a throwaway (development) stage: DEVELOPMENT_STAGE. */
export function isDevelopmentStage(stage: string): boolean {
  return DEVELOPMENT_STAGE.test(stage);
}

/** The first owner's address when none is configured. */
export const DEFAULT_ADMIN_EMAIL = 'admin@example.com';

/**
 * Reserved concurrency per function group by default: SDK traffic at its default throttle (2,000
 * requests a second) needs about 40 instances at 20 ms each, so 200 leaves five times that and caps
 * the database connections the group can open (2 per instance) at 400; the management API and the
 * aggregator (one instance per shard) need far fewer. Together 270 of the account's concurrency (1,000
 * by default; Lambda keeps 100 unreserved): lower them, or set null, in an account with a lower limit.
 */
export const RESERVED_CONCURRENCY_DEFAULTS = { sdk: 200, api: 50, aggregator: 20 } as const;

/** The Aurora PostgreSQL 16 versions the installed aws-cdk-lib names (AuroraPostgresEngineVersion.VER_16_x). */
export const AURORA_POSTGRES_16_VERSIONS: readonly string[] = Object.getOwnPropertyNames(AuroraPostgresEngineVersion)
  .filter((name) => /^VER_16_\d+$/.test(name))
  .map((name) => name.slice('VER_'.length).replace('_', '.'));

/** The engine version of a stage that names none (what every stage ran before it was configurable). */
export const DEFAULT_AURORA_ENGINE_VERSION = '16.6';

const guardrailSchema = z.strictObject({
  /** Construct id part and alarm name suffix. */
  name: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
  project: z.string().min(1),
  flag: z.string().min(1),
  environment: z.string().min(1),
  /** The watched metric (CloudWatch namespace, name, dimensions, statistic). */
  namespace: z.string().min(1),
  metricName: z.string().min(1),
  dimensions: z.record(z.string(), z.string()).default({}),
  statistic: z.string().default('Average'),
  threshold: z.number(),
  comparison: z.enum(['GreaterThanThreshold', 'GreaterThanOrEqualToThreshold', 'LessThanThreshold', 'LessThanOrEqualToThreshold']).default('GreaterThanThreshold'),
  periodSeconds: z.number().int().min(60).default(60),
  evaluationPeriods: z.number().int().min(1).default(3),
});

/** Roles SSO may give (default role, role map): every role but owner, whom only xp itself makes. */
export const SSO_ROLES = [Role.Viewer, Role.Analyst, Role.Editor, Role.Admin] as const;

/** A complete Secrets Manager ARN: with the 6-character suffix Secrets Manager adds, so IAM can grant exactly that secret. */
export const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/;

const httpsUrl = (value: string): URL | undefined => {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  return url?.protocol === 'https:' && url.username === '' && url.password === '' && url.search === '' && url.hash === '' ? url : undefined;
};

const ssoRoleSchema = z.enum(SSO_ROLES, { message: `one of ${SSO_ROLES.join(', ')} (never owner)` });

/**
 * Single sign-on with OpenID Connect (docs/sso.md): the API function gets the XP_SSO_* variables
 * (cloud/src/infra/sso.ts) and may read exactly the client secret's ARN. The secret's value never
 * enters the template.
 */
export const ssoSchema = z
  .strictObject({
    /** The IdP's issuer URL (https; discovery at `<issuer>/.well-known/openid-configuration`). */
    issuer: z.string().refine((v) => httpsUrl(v) !== undefined, "an https URL without query or fragment: the IdP's issuer, e.g. https://example.okta.com"),
    /** The client (application) id the IdP gave xp. */
    clientId: z.string().regex(/^[\x21-\x7e]{1,512}$/, 'the client id the IdP shows (1-512 printable characters, no spaces)'),
    /** ARN of the Secrets Manager secret holding the client secret (a plain string). Absent: a public client (PKCE only). */
    clientSecretArn: z
      .string()
      .regex(SECRET_ARN, "the secret's complete ARN, as `aws secretsmanager describe-secret` prints it: arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf, with the 6-character suffix")
      .optional(),
    /** The sign-in button's label ("Sign in with <name>"). Default: the API's (`SSO`). */
    name: z
      .string()
      .regex(/^(?=.{1,40}$)[^\s\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]([^\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069])?$/u, '1-40 characters, no control characters, not starting or ending with a space')
      .optional(),
    /** E-mail domains that may sign in (and be created). Default: any verified e-mail. */
    allowedDomains: z.array(z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/, 'a lower-case e-mail domain such as example.com')).default([]),
    /** Role of users created at their first SSO sign-in. Default: the API's (viewer). */
    defaultRole: ssoRoleSchema.optional(),
    /** The ID-token claim holding the user's groups (e.g. `groups`); with roleMap. */
    groupsClaim: z.string().regex(/^[A-Za-z0-9_:./-]{1,128}$/, 'a claim name (letters, digits, _ : . / -; at most 128), e.g. groups').optional(),
    /** Group → role; at each SSO sign-in a mapped user gets the highest mapped role (owners are never changed). With groupsClaim. */
    roleMap: z.record(z.string(), ssoRoleSchema).optional(),
    /** Refuse password sign-in to everyone but owners (break-glass). Default false. */
    enforced: z.boolean().default(false),
    /** Let an SSO sign-in link an existing owner by verified e-mail (XP_SSO_LINK_OWNERS). Default false: owners keep their password only. */
    linkOwners: z.boolean().default(false),
    /** With roleMap: a (non-owner) person in no mapped group gets defaultRole at sign-in (XP_SSO_ROLE_MAP_AUTHORITATIVE). Default false. */
    roleMapAuthoritative: z.boolean().default(false),
    /**
     * The callback URL registered at the IdP: `<console origin>/api/v1/auth/sso/callback`. Default
     * with consoleDomain: `https://<consoleDomain.name>/api/v1/auth/sso/callback`; without it, required
     * (the ConsoleUrl output's *.cloudfront.net name plus the path).
     */
    redirectUrl: z
      .string()
      .refine((v) => httpsUrl(v)?.pathname === SSO_CALLBACK_PATH, `an https URL ending in ${SSO_CALLBACK_PATH} (no query or fragment): the console's URL (the ConsoleUrl output) and that path`)
      .optional(),
  })
  .superRefine((s, ctx) => {
    for (const group of Object.keys(s.roleMap ?? {})) {
      if (!/^[^\s,=](?:[^,=]*[^\s,=])?$/.test(group)) {
        ctx.addIssue({ code: 'custom', path: ['roleMap', group], message: 'a group name must be non-empty, without commas, equals signs or leading or trailing spaces' });
      }
    }
    if (s.roleMap !== undefined && Object.keys(s.roleMap).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['roleMap'], message: 'map at least one group to a role, or leave roleMap out' });
    }
    if (s.roleMapAuthoritative && s.roleMap === undefined) {
      ctx.addIssue({ code: 'custom', path: ['roleMapAuthoritative'], message: 'needs roleMap: without a map every SSO sign-in would reset the person to the default role' });
    }
    if ((s.groupsClaim === undefined) !== (s.roleMap === undefined)) {
      ctx.addIssue({ code: 'custom', path: [s.groupsClaim === undefined ? 'groupsClaim' : 'roleMap'], message: 'groupsClaim and roleMap go together: the claim holding the groups, and the role of each group' });
    }
  });

export const configSchema = z.strictObject({
  /** Deployment name, part of every stack and resource name. Default `dev`. */
  stage: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and dashes, starting with a letter').default(DEV_STAGE),
  /**
   * Target account and region of every stack; default the CLI's (CDK_DEFAULT_ACCOUNT /
   * CDK_DEFAULT_REGION, from the profile and AWS_REGION). Set, they pin the stage to that account and region.
   */
  account: z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id').optional(),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1').optional(),
  /** Custom domain of the API (an ACM certificate in the same region). Default: the execute-api URL. */
  apiDomain: z.strictObject({ name: z.string().min(3), certificateArn: z.string().startsWith('arn:') }).optional(),
  /**
   * Custom domain of the console's CloudFront distribution, with an ACM certificate that CloudFront
   * can use (always in us-east-1); the distribution then requires TLS 1.2 (TLSv1.2_2021). Default:
   * the *.cloudfront.net name, whose default certificate allows TLS 1.0. Recommended for production.
   */
  consoleDomain: z
    .strictObject({
      name: z.string().min(3),
      certificateArn: z.string().regex(/^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/[\w-]+$/, 'an ACM certificate ARN in us-east-1 (CloudFront uses certificates from that region only)'),
    })
    .optional(),
  /**
   * Name of an IAM managed policy set as the permissions boundary of every IAM role the stacks
   * create (e.g. the bootstrap's cdk-hnb659fds-permissions-boundary-ACCOUNT-REGION). Default none.
   */
  permissionsBoundary: z.string().regex(/^[\w+=,.@-]{1,128}$/, 'an IAM policy name').optional(),
  /** Days CloudWatch keeps function, API access and flow logs. Default 30. */
  logRetentionDays: z.number().refine((d) => RETENTION.has(d), 'not a CloudWatch Logs retention period').default(30),
  /**
   * Hours Kinesis keeps events (24-168); the aggregator's maximum record age is 12 hours less. At most
   * 7 days: the aggregator never waits longer for a record (Lambda's maximum record age), and the S3
   * event archive keeps every event for replay beyond that. Default 24.
   */
  streamRetentionHours: z
    .number()
    .int()
    .min(24)
    .max(168, 'at most 168 hours (7 days): the aggregator gives up on a record after at most 7 days (Lambda\'s maximum record age), and the S3 event archive already keeps every event for replay (archiveRetentionDays)')
    .default(24),
  /**
   * The event stream's capacity mode: `on-demand` (Kinesis adds shards as traffic grows; $0.04 an hour
   * per stream plus per GB), or `provisioned` with a fixed `shards` count ($0.015 a shard-hour plus PUT
   * payload units). Default on-demand.
   */
  stream: z
    .strictObject({
      mode: z.enum(['on-demand', 'provisioned']).default('on-demand'),
      /** Shards of a provisioned stream (1-500): required with `provisioned`, refused with `on-demand`. */
      shards: z.number().int().min(1).max(500).optional(),
    })
    .superRefine((s, ctx) => {
      if (s.mode === 'provisioned' && s.shards === undefined) {
        ctx.addIssue({ code: 'custom', path: ['shards'], message: 'a provisioned stream needs its shard count (1-500)' });
      }
      if (s.mode === 'on-demand' && s.shards !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['shards'], message: 'an on-demand stream sizes itself: set "mode": "provisioned" to choose the shard count' });
      }
    })
    .default({ mode: 'on-demand' }),
  /** Where alarm notifications are e-mailed. Absent, the alarms still fire but notify nobody (synth warns). */
  alarmEmail: z.email().optional(),
  /** E-mail of the first owner account created on first deploy. Default admin@example.com. */
  adminEmail: z.email().default(DEFAULT_ADMIN_EMAIL),
  /**
   * Aurora Serverless v2 capacity range in ACUs (0 lets the writer pause when idle, if nothing queries it: guardrailCheckMinutes), default 0.5-4,
   * and `reader`: a Serverless v2 reader (promotion tier 1, scales with the writer) that Aurora fails
   * over to in seconds. Default: on for every stage but a development one (see auroraReader).
   */
  aurora: z
    .strictObject({
      minCapacity: z.number().min(0).max(256).default(0.5),
      maxCapacity: z.number().min(1).max(256).default(4),
      reader: z.boolean().optional(),
      /** Days of automated backups (point-in-time restore), 1-35. Default: 7 on a development stage, 14 on every other (see auroraBackupRetentionDays). */
      backupRetentionDays: z.number().int().min(1).max(35).optional(),
      /**
       * The Aurora PostgreSQL 16 minor version, one aws-cdk-lib knows (AURORA_POSTGRES_16_VERSIONS).
       * Minor upgrades are not automatic: raise this on purpose (docs/deploy.md#aurora-engine-version).
       */
      engineVersion: z
        .string()
        .refine((v) => AURORA_POSTGRES_16_VERSIONS.includes(v), { message: `an Aurora PostgreSQL 16 version this release knows: ${AURORA_POSTGRES_16_VERSIONS.join(', ')}` })
        .default(DEFAULT_AURORA_ENGINE_VERSION),
    })
    .refine((a) => a.minCapacity <= a.maxCapacity, 'minCapacity must not exceed maxCapacity')
    .default({ minCapacity: 0.5, maxCapacity: 4, engineVersion: DEFAULT_AURORA_ENGINE_VERSION }),
  /**
   * X-Ray active tracing on every function (sampled: by default the first request each second and 5%
   * of the rest, per function; $5 per million traces recorded beyond the free 100,000 a month). Default true.
   */
  tracing: z.boolean().default(true),
  /** Connect the functions through RDS Proxy (pooling across instances; about $0.12 an hour more). Default false. */
  databaseProxy: z.boolean().default(false),
  /** `retain` keeps the database, tables, stream and buckets when a stack is destroyed. Default retain. */
  removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  /** Provisioned concurrency of the evaluation function (0 = on demand). Default 0. */
  evaluationProvisionedConcurrency: z.number().int().min(0).default(0),
  /**
   * Reserved concurrency per function group: the most instances each may run, so a slow database
   * cannot make one group use up the account's Lambda concurrency (and starve the others), and a
   * share each group always keeps. `null` leaves a group unreserved. Defaults: see RESERVED_CONCURRENCY.
   */
  reservedConcurrency: z
    .strictObject({
      /** The SDK evaluation function (/sdk/v1, /r). */
      sdk: z.number().int().min(1).max(10_000).nullable().default(RESERVED_CONCURRENCY_DEFAULTS.sdk),
      /** The management API function. */
      api: z.number().int().min(1).max(10_000).nullable().default(RESERVED_CONCURRENCY_DEFAULTS.api),
      /** The aggregator (one instance per stream shard: keep it above the shard count). */
      aggregator: z.number().int().min(1).max(10_000).nullable().default(RESERVED_CONCURRENCY_DEFAULTS.aggregator),
    })
    .default(RESERVED_CONCURRENCY_DEFAULTS),
  /** Steady-state requests per second and burst of the HTTP API. Default 500 / 1000. */
  apiThrottle: z.strictObject({ rate: z.number().positive().default(500), burst: z.number().int().positive().default(1000) }).default({ rate: 500, burst: 1000 }),
  /**
   * Requests per second and burst of the SDK routes (/sdk/v1, /r), a bucket of their own: SDK
   * polling and events must not use up the management API's allowance. Default 2000 / 4000.
   */
  sdkThrottle: z.strictObject({ rate: z.number().positive().default(2000), burst: z.number().int().positive().default(4000) }).default({ rate: 2000, burst: 4000 }),
  /**
   * An ElastiCache Serverless cache (Valkey or Redis OSS) in the VPC for rate limits and sticky
   * assignments shared by every function instance; the functions get REDIS_URL. Default none
   * (each instance keeps its own, in memory).
   */
  sharedCache: z
    .strictObject({
      engine: z.enum(['valkey', 'redis']).default('valkey'),
      /** Upper bound of stored data in GB. Default 1. */
      maxDataStorageGb: z.number().int().min(1).max(5000).default(1),
      /** Upper bound of ElastiCache Processing Units per second. Default 5,000. */
      maxEcpuPerSecond: z.number().int().min(1000).max(15_000_000).default(5000),
    })
    .optional(),
  /**
   * Minutes between two runs of the statistical guardrail check (1-60), which queries the database:
   * run every minute, it keeps an idle Aurora writer from pausing (aurora.minCapacity 0). Default 1.
   */
  guardrailCheckMinutes: z.number().int().min(1).max(60).default(1),
  /**
   * Availability zones (1 or 2) whose subnets hold the interface endpoints' network interfaces (each
   * endpoint is billed per zone-hour); the VPC and Aurora keep both zones. Default 2.
   */
  endpointAzs: z.number().int().min(1).max(2).default(2),
  /** Days the event explorer keeps events (1-90; the aggregator purges older ones hourly). Default 7. */
  explorerRetentionDays: z.number().int().min(1).max(90).default(DEFAULT_EXPLORER_RETENTION_DAYS),
  /** Days the raw event archive (Firehose → S3) keeps objects; after 30 days they move to Glacier Instant Retrieval. Default 365. */
  archiveRetentionDays: z.number().int().min(31).max(3650).default(365),
  /** Prefix of the platform's log groups (`<prefix>/api`, `/services`, `/errors`); change it for a second stage in one account. */
  logGroupPrefix: z.string().regex(/^\/[\w/.-]{1,400}$/).default('/experimentation-platform'),
  /** Alarms that switch a flag off when they fire. Default none. */
  guardrails: z.array(guardrailSchema).default([]),
  /** Single sign-on with OpenID Connect (ssoSchema, docs/sso.md). Default none: password sign-in only. */
  sso: ssoSchema.optional(),
}).refine(
  (c) => c.reservedConcurrency.sdk === null || c.evaluationProvisionedConcurrency <= c.reservedConcurrency.sdk,
  { path: ['evaluationProvisionedConcurrency'], message: 'must not exceed reservedConcurrency.sdk (Lambda provisions within the reserved concurrency)' },
).refine(
  (c) => c.stream.shards === undefined || c.reservedConcurrency.aggregator === null || c.stream.shards <= c.reservedConcurrency.aggregator,
  { path: ['stream', 'shards'], message: 'must not exceed reservedConcurrency.aggregator (the aggregator runs one instance per shard)' },
).superRefine((c, ctx) => {
  if (c.sso === undefined) {
    return;
  }
  const secret = c.sso.clientSecretArn === undefined ? undefined : SECRET_ARN.exec(c.sso.clientSecretArn);
  if (secret !== undefined && secret !== null && ((c.region !== undefined && secret[1] !== c.region) || (c.account !== undefined && secret[2] !== c.account))) {
    // The function reads it through the VPC's Secrets Manager endpoint, which serves its own region only.
    ctx.addIssue({ code: 'custom', path: ['sso', 'clientSecretArn'], message: `must be a secret in the stage's own account and region (${c.account ?? 'any account'}, ${c.region ?? 'any region'}): the API function reads it through the VPC's Secrets Manager endpoint` });
  }
  if (c.sso.redirectUrl === undefined) {
    if (c.consoleDomain === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['sso', 'redirectUrl'],
        message: `required without consoleDomain: the console's *.cloudfront.net name is known only after its first deploy; deploy once without "sso", then set it to the ConsoleUrl output followed by ${SSO_CALLBACK_PATH}`,
      });
    }
    return;
  }
  const host = new URL(c.sso.redirectUrl).hostname;
  if (host !== c.consoleDomain?.name && !/^[a-z0-9]+\.cloudfront\.net$/.test(host)) {
    ctx.addIssue({
      code: 'custom',
      path: ['sso', 'redirectUrl'],
      message: `must be on the console's origin (${c.consoleDomain === undefined ? 'its *.cloudfront.net name, the ConsoleUrl output' : `${c.consoleDomain.name} or its *.cloudfront.net name`}), which serves the console the callback returns to; not ${host}`,
    });
  }
}).superRefine((c, ctx) => {
  // What synth accepts, the API function must accept at its cold start: its own parser, on the
  // variables it will get (only once everything else passed, so each mistake is named once).
  if (c.sso === undefined || (c.sso.redirectUrl === undefined && c.consoleDomain === undefined)) {
    return;
  }
  try {
    loadSsoConfig(ssoEnvironment(c.sso, ssoRedirectUrl(c)));
  } catch (e) {
    if (!(e instanceof SsoConfigError)) {
      throw e;
    }
    ctx.addIssue({ code: 'custom', path: ['sso'], message: `the API would refuse these settings at its start: ${e.message}` });
  }
}, { when: (payload) => payload.issues.length === 0 });

/** Whether the stage runs an Aurora reader: `aurora.reader`, by default on for every stage but a development one (isDevelopmentStage). */
export function auroraReader(config: Pick<XpConfig, 'aurora' | 'stage'>): boolean {
  return config.aurora.reader ?? !isDevelopmentStage(config.stage);
}

/** Days of Aurora automated backups: `aurora.backupRetentionDays`, by default 7 on a development stage (isDevelopmentStage) and 14 on every other. */
export function auroraBackupRetentionDays(config: Pick<XpConfig, 'aurora' | 'stage'>): number {
  return config.aurora.backupRetentionDays ?? (isDevelopmentStage(config.stage) ? 7 : 14);
}

/** The engine version, as aws-cdk-lib's own constant (with the features it knows that version has). */
export function auroraEngineVersion(config: Pick<XpConfig, 'aurora'>): AuroraPostgresEngineVersion {
  const name = `VER_${config.aurora.engineVersion.replace('.', '_')}`;
  const version = (AuroraPostgresEngineVersion as unknown as Record<string, AuroraPostgresEngineVersion | undefined>)[name];
  if (version === undefined) {
    throw new Error(`${config.aurora.engineVersion} is not an Aurora PostgreSQL version aws-cdk-lib knows`);
  }
  return version;
}

/** A configuration the user can fix (unreadable file, bad JSON, invalid fields): the CDK app prints its message alone, without a stack. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type XpConfig = z.output<typeof configSchema>;
export type XpConfigInput = z.input<typeof configSchema>;
export type GuardrailConfig = XpConfig['guardrails'][number];

/** Context keys read (each overrides the same field of the file). */
const CONTEXT_KEYS = [
  'stage',
  'account',
  'region',
  'alarmEmail',
  'adminEmail',
  'removalPolicy',
  'logRetentionDays',
  'streamRetentionHours',
  'databaseProxy',
  'tracing',
  'evaluationProvisionedConcurrency',
  'sharedCache',
  'archiveRetentionDays',
  'logGroupPrefix',
  'guardrailCheckMinutes',
  'endpointAzs',
  'explorerRetentionDays',
] as const;

const NUMERIC = new Set(['logRetentionDays', 'streamRetentionHours', 'evaluationProvisionedConcurrency', 'archiveRetentionDays', 'guardrailCheckMinutes', 'endpointAzs', 'explorerRetentionDays']);

/** Validates a configuration; the message lists every problem by path. */
export function parseConfig(input: unknown): XpConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(`invalid xp deployment configuration:\n${result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')}`);
  }
  return result.data;
}

/** What a valid configuration still probably gets wrong, one sentence each. */
export function configWarnings(config: XpConfig): string[] {
  return [
    ...(config.alarmEmail === undefined
      ? [`alarmEmail is not set: the alarms of stage "${config.stage}" will fire but notify nobody; set "alarmEmail" in the configuration file (or -c alarmEmail=…)`]
      : []),
    ...(config.adminEmail === DEFAULT_ADMIN_EMAIL && config.stage !== DEV_STAGE
      ? [`adminEmail is the default ${DEFAULT_ADMIN_EMAIL}: the first owner account of stage "${config.stage}" will be created under that address; set "adminEmail" in the configuration file (or -c adminEmail=…)`]
      : []),
  ];
}

/** A configuration file's fields; a ConfigError with one line when it cannot be read or is not a JSON object. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(e as Error).message.split('\n')[0] ?? ''}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`config file ${file} must hold a JSON object ({ "alarmEmail": "…", … })`);
  }
  return value as Record<string, unknown>;
}

export interface LoadOptions {
  /** Where warnings go (configWarnings); default stderr, as `warning: …`. */
  readonly warn?: (message: string) => void;
}

/**
 * Reads the file named by context `config` (default `xp.config.json` beside cdk.json, if present),
 * then overlays context values (strings from the command line are converted).
 */
export function loadConfig(context: (key: string) => unknown, cwd = process.cwd(), options: LoadOptions = {}): XpConfig {
  const fileName = context('config');
  const file = path.resolve(cwd, typeof fileName === 'string' ? fileName : 'xp.config.json');
  if (typeof fileName === 'string' && !existsSync(file)) {
    throw new ConfigError(`config file ${file} does not exist`);
  }
  const fromFile = existsSync(file) ? readConfigFile(file) : {};
  const merged: Record<string, unknown> = { ...fromFile };
  for (const key of CONTEXT_KEYS) {
    const value = context(key);
    if (value === undefined) {
      continue;
    }
    if (typeof value === 'string' && NUMERIC.has(key)) {
      merged[key] = Number(value);
    } else if (typeof value === 'string' && (key === 'databaseProxy' || key === 'tracing')) {
      merged[key] = value === 'true';
    } else if (typeof value === 'string' && key === 'sharedCache') {
      // -c sharedCache=true (defaults) or =valkey / =redis (the engine); false leaves it out.
      if (value === 'true' || value === 'valkey' || value === 'redis') {
        merged[key] = value === 'true' ? {} : { engine: value };
      }
    } else {
      merged[key] = value;
    }
  }
  const config = parseConfig(merged);
  const warn = options.warn ?? ((message: string) => process.stderr.write(`warning: ${message}\n`));
  for (const warning of configWarnings(config)) {
    warn(warning);
  }
  return config;
}

/** The log retention as CDK's enum (whose values are the days themselves). */
export function logRetention(config: Pick<XpConfig, 'logRetentionDays'>): RetentionDays {
  const days = RETENTION.get(config.logRetentionDays);
  if (days === undefined) {
    throw new Error(`${config.logRetentionDays} is not a CloudWatch Logs retention period`);
  }
  return days;
}
