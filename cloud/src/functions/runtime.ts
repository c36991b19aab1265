/**
 * What every Lambda entry point shares: its configuration from environment variables (set by the
 * CDK project function construct), the database connection (credentials read once per cold start
 * from Secrets Manager) and the AWS clients. Nothing here does I/O at import time.
 */
import type { Logger } from '../domain/context.js';
import { jsonLogger } from '../local/logger.js';
import { DatabaseError } from '../store/database.js';
import type { Database, Queryable } from '../store/database.js';

/** Environment variable names, shared with the CDK constructs that set them. */
export const EnvVar = {
  /** Deployment stage (prod, dev…): the `Stage` metric dimension. */
  Stage: 'XP_STAGE',
  /** ARN of the Secrets Manager secret holding the database credentials (RDS JSON format). */
  DbSecretArn: 'XP_DB_SECRET_ARN',
  /**
   * ARN of the secret of the application's database user (migrations custom resource): the
   * migrations create that user with row access only; every other function connects as it.
   */
  DbAppSecretArn: 'XP_DB_APP_SECRET_ARN',
  /** Host to connect to instead of the secret's (the RDS Proxy endpoint). */
  DbHost: 'XP_DB_HOST',
  /** A full connection string instead of the secret (local runs and tests). */
  DatabaseUrl: 'DATABASE_URL',
  /** DynamoDB table of published rulesets. */
  RulesetTable: 'XP_RULESET_TABLE',
  /** Kinesis stream of SDK events. */
  EventStream: 'XP_EVENT_STREAM',
  /** Endpoints of local stand-ins (dynalite, kinesalite); unset in AWS. */
  DynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  KinesisEndpoint: 'KINESIS_ENDPOINT',
  /** Connections per Lambda instance. */
  DbPoolSize: 'XP_DB_POOL_SIZE',
  /**
   * Milliseconds a request waits for the database before it fails as unavailable (503 with
   * Retry-After): for a connection (a transaction: until BEGIN answered) and for a single statement's
   * answer. Set by the CDK well below the function's timeout; unset, only the pool's 20 s connect timeout.
   */
  DbConnectTimeoutMs: 'XP_DB_CONNECT_TIMEOUT_MS',
  /** Secret holding the first owner's password (migrations custom resource). */
  AdminSecretArn: 'XP_ADMIN_SECRET_ARN',
  /** E-mail of the first owner (migrations custom resource). */
  AdminEmail: 'XP_ADMIN_EMAIL',
  /** The shared store (ElastiCache, rediss://…); unset: rate limits and sticky assignments per instance. */
  RedisUrl: 'REDIS_URL',
  /** "true": request log lines include the JSON body with secrets redacted. */
  CollectRequestBody: 'COLLECT_REQUEST_BODY',
  /** Marks requests that come through the console's CloudFront distribution (its origin header's value). */
  EdgeToken: 'XP_EDGE_TOKEN',
  /** The event stream's retention in hours (default 24): how long the aggregator keeps dedupe records depends on it. */
  StreamRetentionHours: 'XP_STREAM_RETENTION_HOURS',
  /** Days the live event explorer keeps events (default 7); the aggregator purges older ones hourly. */
  ExplorerRetentionDays: 'XP_EXPLORER_RETENTION_DAYS',
  /** ARN of the Secrets Manager secret holding the platform key (webhook signing secrets, encrypted webhook URLs). */
  PlatformKeySecretArn: 'XP_PLATFORM_KEY_SECRET_ARN',
  /** The platform key itself instead of the secret (local runs and tests); at least 32 characters. */
  PlatformKey: 'XP_PLATFORM_KEY',
  /** Name of the function that sends webhook requests from outside the VPC (the dispatcher invokes it). */
  WebhookSenderFunction: 'XP_WEBHOOK_SENDER_FUNCTION',
  /** Name of the function that sends the API's requests to the SSO identity provider from outside the VPC. */
  SsoEgressFunction: 'XP_SSO_EGRESS_FUNCTION',
} as const;
export type EnvVar = (typeof EnvVar)[keyof typeof EnvVar];

/** The header the console's CloudFront distribution adds to every request it sends to the API (value: XP_EDGE_TOKEN). */
export const EDGE_TOKEN_HEADER = 'x-xp-edge';

/** Reads a variable that must be set and non-empty. */
export function required(env: NodeJS.ProcessEnv, name: EnvVar): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`environment variable ${name} is not set`);
  }
  return value;
}

/** Reads a variable that may be absent (empty counts as absent). */
export function optional(env: NodeJS.ProcessEnv, name: EnvVar): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** The RDS-generated secret's JSON. */
export interface DatabaseSecret {
  readonly username: string;
  readonly password: string;
  readonly host: string;
  readonly port?: number;
  readonly dbname?: string;
}

/** Reads a secret's string value; the AWS SDK in production, a fake in tests. */
export type SecretReader = (arn: string) => Promise<string>;

/** Secrets Manager through the SDK the Lambda runtime provides, loaded only when first needed. */
export const secretsManagerReader: SecretReader = async (arn) => {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (out.SecretString === undefined) {
      throw new Error(`secret ${arn} has no string value`);
    }
    return out.SecretString;
  } finally {
    client.destroy();
  }
};

/** A database user's name and password from a secret in RDS's JSON format; errors never echo the text. */
export function parseDatabaseUser(text: string, what = 'the database secret'): { username: string; password: string; fields: Record<string, unknown> } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${what} is not JSON`);
  }
  const fields = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const { username, password } = fields;
  if (typeof username !== 'string' || typeof password !== 'string') {
    throw new Error(`${what} lacks username or password`);
  }
  return { username, password, fields };
}

export function parseDatabaseSecret(text: string): DatabaseSecret {
  const { username, password, fields } = parseDatabaseUser(text);
  const { host, port, dbname } = fields;
  if (typeof host !== 'string') {
    throw new Error('the database secret lacks host');
  }
  return {
    username,
    password,
    host,
    ...(typeof port === 'number' ? { port } : {}),
    ...(typeof dbname === 'string' ? { dbname } : {}),
  };
}

/** A TLS-verified connection string (Aurora's certificate chain is in the Lambda runtime's CA bundle). */
export function connectionString(secret: DatabaseSecret, hostOverride?: string): string {
  const user = encodeURIComponent(secret.username);
  const password = encodeURIComponent(secret.password);
  const host = hostOverride ?? secret.host;
  return `postgres://${user}:${password}@${host}:${secret.port ?? 5432}/${encodeURIComponent(secret.dbname ?? 'postgres')}?sslmode=verify-full`;
}

/**
 * The database named by DATABASE_URL, or by the secret in XP_DB_SECRET_ARN. The driver (pg) is
 * loaded here, with the connection, rather than at module init: every function connects on its
 * first invocation anyway.
 */
export async function connectDatabase(env: NodeJS.ProcessEnv, readSecret: SecretReader = secretsManagerReader): Promise<Database> {
  const { createPgDatabase } = await import('../store/db.js');
  const max = Number(optional(env, EnvVar.DbPoolSize) ?? '2');
  const deadline = optional(env, EnvVar.DbConnectTimeoutMs);
  const bound = (db: Database): Database => (deadline === undefined ? db : withDeadline(db, Number(deadline)));
  const url = optional(env, EnvVar.DatabaseUrl);
  if (url !== undefined) {
    return bound(createPgDatabase(url, { max }));
  }
  const secret = parseDatabaseSecret(await readSecret(required(env, EnvVar.DbSecretArn)));
  return bound(createPgDatabase(connectionString(secret, optional(env, EnvVar.DbHost)), { max }));
}

/**
 * A database whose operations give up after `ms` with a connection-class DatabaseError (SQLSTATE
 * 08001, which the handlers answer with 503 and Retry-After) instead of outliving the function's
 * timeout (API Gateway's bare 503, and instances piling up while a paused Aurora resumes). A single
 * statement is bounded as a whole; a transaction only until its BEGIN answered (connection included),
 * and one that gets its connection after giving up runs nothing and rolls back. The abandoned wait
 * itself continues in the pool until its own 20 s connect timeout.
 */
export function withDeadline(db: Database, ms: number): Database {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new Error(`${EnvVar.DbConnectTimeoutMs} must be a positive number of milliseconds, not ${ms}`);
  }
  const timeout = (): Error => new DatabaseError('08001', `the database did not answer within ${ms} ms`);
  const race = <T>(work: Promise<T>, onTimeout: () => void = () => undefined): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(timeout());
      }, ms);
    });
    return Promise.race([work, expired]).finally(() => {
      clearTimeout(timer);
    });
  };
  return {
    kind: db.kind,
    query: (sql, params) => race(db.query(sql, params)),
    withTransaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      let abandoned = false;
      let begun: () => void = () => undefined;
      const started = new Promise<void>((resolve) => {
        begun = resolve;
      });
      const work = db.withTransaction(async (tx) => {
        if (abandoned) {
          throw timeout();
        }
        begun();
        return fn(tx);
      });
      // Only the wait for the connection and BEGIN is bounded; once begun, the transaction runs to its end.
      // A connection that fails before the deadline fails the call with its own error.
      return race(Promise.race([started, work.then(() => undefined)]), () => {
        abandoned = true;
      }).then(
        () => work,
        (e: unknown) => {
          work.catch(() => undefined);
          throw e;
        },
      );
    },
    close: () => db.close(),
  };
}

/** Memoises an async factory; a failure is forgotten so the next invocation tries again. */
export function lazy<T>(factory: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= factory().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}

/** JSON lines on stderr with secrets redacted (Lambda ships both streams to CloudWatch Logs). */
export const functionLogger = (): Logger => jsonLogger();

export const stageOf = (env: NodeJS.ProcessEnv): string => optional(env, EnvVar.Stage) ?? 'local';
