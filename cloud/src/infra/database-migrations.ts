import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct, IDependable } from 'constructs';
import { EnvVar } from '../functions/runtime.js';
import { CLOUD_DIR, FunctionEntry } from './bundling.js';
import { logRetention } from './config.js';
import type { XpConfig } from './config.js';
import { XpFunction } from './xp-function.js';
import type { CodeFactory, DatabaseBinding, SecretRef, TableRef } from './xp-function.js';

/** A digest of cloud/migrations, so the migrations resource runs again whenever a file changes. */
export function migrationsDigest(dir = path.join(CLOUD_DIR, 'migrations')): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    hash.update(file).update(readFileSync(path.join(dir, file)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** What the migrations need of the data stack (a DataStack has all of it). */
export interface MigrationsData {
  /** The master user's: the migrations run as it. */
  readonly migrationDatabase: DatabaseBinding;
  /** The application user's: its secret gives the user the migrations create. */
  readonly database: DatabaseBinding;
  readonly rulesets: TableRef;
  /** The first owner's generated password. */
  readonly adminSecret: SecretRef;
  /** The writer: the migrations run only once it is up. */
  readonly cluster: IDependable;
}

export interface DatabaseMigrationsProps {
  readonly config: XpConfig;
  readonly vpc: ec2.IVpc;
  readonly data: MigrationsData;
  readonly code?: CodeFactory;
  /**
   * Put before every child's construct id: '' gives the api stack's original ids (`Migrate`,
   * `MigrationsProviderLogs`, `MigrationsProvider`, `Migrations`), 'Early' gives `EarlyMigrate`, ….
   */
  readonly idPrefix: string;
  /** Default 'xp database migrations (CloudFormation custom resource)'. */
  readonly description?: string;
}

/**
 * The database migrations as a CloudFormation custom resource: the Migrate function (cloud/src/functions/migrate.ts,
 * which applies pending SQL migrations as the master user, creates the application user and bootstraps the first owner once), CDK's provider framework
 * with its log group, and the Custom::XpMigrations resource whose `digest` changes with any file in
 * cloud/migrations, so an update runs whenever a migration changes. Make what uses the new schema
 * depend on `migrations`.
 *
 * Not a Construct of its own: the children are created directly on `scope`, under `idPrefix` + their
 * id. A wrapping construct would add a path segment to every child and so change the logical IDs (and
 * replace the resources) of the deployments whose api stack created these before this class existed.
 */
export class DatabaseMigrations {
  readonly migrate: XpFunction;
  readonly providerLogs: logs.LogGroup;
  readonly provider: cr.Provider;
  /** The Custom::XpMigrations resource. */
  readonly migrations: CustomResource;

  constructor(scope: Construct, props: DatabaseMigrationsProps) {
    const { config, data, idPrefix } = props;
    this.migrate = new XpFunction(scope, `${idPrefix}Migrate`, {
      entry: FunctionEntry.Migrate,
      stage: config.stage,
      tracing: config.tracing,
      vpc: props.vpc,
      timeout: Duration.minutes(5),
      logRetention: logRetention(config),
      description: props.description ?? 'xp database migrations (CloudFormation custom resource)',
      ...(props.code === undefined ? {} : { code: props.code }),
    })
      .bindDatabase(data.migrationDatabase)
      .bindSecret(data.database.secret, EnvVar.DbAppSecretArn)
      .bindTable(data.rulesets, 'readWrite')
      .bindSecret(data.adminSecret, EnvVar.AdminSecretArn)
      .setEnvironment(EnvVar.AdminEmail, config.adminEmail);
    this.providerLogs = new logs.LogGroup(scope, `${idPrefix}MigrationsProviderLogs`, { retention: logRetention(config), removalPolicy: RemovalPolicy.DESTROY });
    this.provider = new cr.Provider(scope, `${idPrefix}MigrationsProvider`, { onEventHandler: this.migrate.function, logGroup: this.providerLogs });
    this.migrations = new CustomResource(scope, `${idPrefix}Migrations`, {
      serviceToken: this.provider.serviceToken,
      resourceType: 'Custom::XpMigrations',
      // The application user's secret too: a deployment from before that user existed runs the
      // migrations again on its next deploy (which creates it) before any function connects as it.
      properties: { digest: migrationsDigest(), appSecret: data.database.secret.secretArn },
    });
    // The writer must be up, and the migrations function let in (its ingress rule), before migrations run.
    this.migrations.node.addDependency(data.cluster);
    this.migrations.node.addDependency(this.migrate);
  }
}
