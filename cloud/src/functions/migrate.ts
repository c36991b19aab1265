/**
 * The migrations custom resource (behind CDK's provider framework): on every deploy that creates or
 * updates it, applies pending SQL migrations as the database's master user, creates (or updates) the
 * application's database user that every other function connects as, with row access to the tables
 * only, and, on first deploy, creates the organisation's owner (password from its own generated
 * secret) and the demo project. Delete does nothing: data stays.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScryptParams } from '../auth/passwords.js';
import { bootstrap } from '../domain/bootstrap.js';
import type { Deps, Logger } from '../domain/context.js';
import type { Database } from '../store/db.js';
import { ensureAppRole } from '../store/app-role.js';
import { MIGRATIONS_DIR, describeApplied, migrate, unknownMigrations } from '../store/db.js';
import { createDynamoClient, createDynamoRulesetStore } from '../store/ruleset-store.js';
import { EnvVar, connectDatabase, functionLogger, optional, parseDatabaseUser, required, secretsManagerReader } from './runtime.js';
import type { SecretReader } from './runtime.js';

/** What CloudFormation sends through the provider framework (the fields used here). */
export interface CustomResourceEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties?: Readonly<Record<string, unknown>>;
}

export interface CustomResourceResult {
  readonly PhysicalResourceId: string;
  readonly Data?: Readonly<Record<string, string | number | boolean>>;
}

export interface MigrateOptions {
  readonly readSecret?: SecretReader;
  readonly db?: () => Promise<Database>;
  /** Directory of *.sql files with a trailing slash; the bundle's `migrations/` when present. */
  readonly migrationsDir?: string;
  readonly logger?: Logger;
  readonly scrypt?: ScryptParams;
}

const PHYSICAL_ID = 'xp-database-schema';

function bundledMigrations(): string | undefined {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
  return existsSync(dir) ? `${dir}${path.sep}` : undefined;
}

export function createMigrateHandler(env: NodeJS.ProcessEnv, options: MigrateOptions = {}): (event: CustomResourceEvent) => Promise<CustomResourceResult> {
  const readSecret = options.readSecret ?? secretsManagerReader;
  return async (event) => {
    if (event.RequestType === 'Delete') {
      return { PhysicalResourceId: event.PhysicalResourceId ?? PHYSICAL_ID };
    }
    const logger = options.logger ?? functionLogger();
    const db = options.db === undefined ? await connectDatabase(env, readSecret) : await options.db();
    try {
      const dir = options.migrationsDir ?? bundledMigrations() ?? MIGRATIONS_DIR;
      // Migrations this code does not know: a newer release's, met when CloudFormation rolls a failed
      // deploy back and re-runs this (older) handler. Failing here would wedge the rollback, so the
      // run goes on; the old code now running ignores what they added (access checks among them).
      const unknown = await unknownMigrations(db, dir);
      if (unknown.length > 0) {
        logger.error(
          `database: ${unknown.length === 1 ? 'migration' : `${unknown.length} migrations`} ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} unknown to this release (a newer release applied ${unknown.length === 1 ? 'it' : 'them'}); carrying on, as failing would wedge a rollback. This release's code ignores what ${unknown.length === 1 ? 'it' : 'they'} added, access checks included: deploy the newer release again (docs/deploy.md, schema migrations and failed deploys)`,
          { unknownMigrations: unknown },
        );
      }
      const migrating = performance.now();
      const applied = await migrate(db, dir);
      const ms = Math.round(performance.now() - migrating);
      const appSecret = optional(env, EnvVar.DbAppSecretArn);
      const appRole = appSecret === undefined ? undefined : parseDatabaseUser(await readSecret(appSecret), 'the application database secret');
      if (appRole !== undefined) {
        await db.withTransaction((tx) => ensureAppRole(tx, appRole));
      }
      const adminSecret = optional(env, EnvVar.AdminSecretArn);
      const deps: Deps = {
        db,
        rulesets: createDynamoRulesetStore({ client: createDynamoClient(optional(env, EnvVar.DynamodbEndpoint)), tableName: required(env, EnvVar.RulesetTable) }),
        now: () => new Date(),
        newId: () => randomUUID(),
        logger,
      };
      const boot = await bootstrap(deps, {
        adminEmail: required(env, EnvVar.AdminEmail),
        adminPassword: adminSecret === undefined ? undefined : await readSecret(adminSecret),
        // The secret stays readable to whoever may read it: the owner replaces it at the first login.
        passwordChangeRequired: true,
        ...(options.scrypt === undefined ? {} : { scrypt: options.scrypt }),
      });
      logger.info(describeApplied(applied, ms), { applied, ms, bootstrapped: boot.created, appUser: appRole?.username, ...(unknown.length === 0 ? {} : { unknownMigrations: unknown }) });
      return { PhysicalResourceId: PHYSICAL_ID, Data: { applied: applied.length, bootstrapped: boot.created } };
    } finally {
      await db.close();
    }
  };
}

export const handler = createMigrateHandler(process.env);
