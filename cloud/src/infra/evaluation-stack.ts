import { Duration, Stack } from 'aws-cdk-lib';
import type { CustomResource, StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { FunctionEntry } from './bundling.js';
import { logRetention } from './config.js';
import type { XpConfig } from './config.js';
import type { DataStack } from './data-stack.js';
import { DatabaseMigrations } from './database-migrations.js';
import { XpFunction } from './xp-function.js';
import type { CodeFactory } from './xp-function.js';

/** How long requests wait for the database before answering 503, per request-serving function (well below their timeouts). */
export const DATABASE_CONNECT_TIMEOUT = { evaluation: Duration.seconds(4), api: Duration.seconds(10) } as const;

export interface EvaluationStackProps extends StackProps {
  readonly config: XpConfig;
  readonly vpc: ec2.IVpc;
  readonly data: DataStack;
  readonly code?: CodeFactory;
}

/**
 * The latency-optimised SDK function (/sdk/v1/*, /r/*): 1 GB for the CPU that comes with it, read-only
 * access to rulesets, write access to the event stream, and optional provisioned concurrency. This is
 * the first stack that runs code on the database, so it runs the migrations (a Custom::XpMigrations
 * of its own) before CloudFormation updates the function.
 */
export class EvaluationStack extends Stack {
  readonly evaluation: XpFunction;
  /** What API Gateway invokes: the `live` alias when concurrency is provisioned, else the function. */
  readonly target: lambda.IFunction;
  /** The migrations function run by `migrations` (ids `EarlyMigrate…`). */
  readonly migrate: XpFunction;
  /** The Custom::XpMigrations resource the evaluation function (and its version and alias) is updated after. */
  readonly migrations: CustomResource;

  constructor(scope: Construct, id: string, props: EvaluationStackProps) {
    super(scope, id, props);
    const { config, data } = props;
    const code = props.code === undefined ? {} : { code: props.code };
    // This stack deploys before the api stack (whose HTTP API integrates the function), so the api
    // stack's migrations would come too late for new evaluation code: migrate here first. Both run the
    // same idempotent handler (applied migrations are recorded), so the api stack's run then finds
    // nothing left to do.
    const early = new DatabaseMigrations(this, {
      config,
      vpc: props.vpc,
      data,
      idPrefix: 'Early',
      description: 'xp database migrations, before the evaluation function (CloudFormation custom resource)',
      ...code,
    });
    this.migrate = early.migrate;
    this.migrations = early.migrations;

    this.evaluation = new XpFunction(this, 'Evaluation', {
      entry: FunctionEntry.Evaluation,
      stage: config.stage,
      tracing: config.tracing,
      vpc: props.vpc,
      memorySize: 1024,
      timeout: Duration.seconds(10),
      logRetention: logRetention(config),
      description: 'xp SDK endpoints: ruleset, evaluate, events, split-URL redirect',
      // At most this many instances: a slow database must not use up the account's concurrency.
      reservedConcurrentExecutions: config.reservedConcurrency.sdk,
      ...code,
    })
      // A request that misses the caches answers its own 503 (Retry-After) long before the 10 s timeout.
      .bindDatabase(data.database, { connectTimeout: DATABASE_CONNECT_TIMEOUT.evaluation })
      .bindTable(data.rulesets, 'read')
      .bindStream(data.events);
    // New code must not run against the old schema: the function is updated only after the migrations ran.
    this.evaluation.function.node.addDependency(this.migrations);
    if (config.evaluationProvisionedConcurrency > 0) {
      const version = this.evaluation.function.currentVersion;
      const alias = new lambda.Alias(this, 'Live', {
        aliasName: 'live',
        version: version as lambda.IVersion,
        provisionedConcurrentExecutions: config.evaluationProvisionedConcurrency,
      });
      // Already after the function (they refer to it); stated, so that stays true whatever refers to what.
      version.node.addDependency(this.migrations);
      alias.node.addDependency(this.migrations);
      // CDK's optional `role` clashes with exactOptionalPropertyTypes; an alias is an IFunction.
      this.target = alias as lambda.IFunction;
    } else {
      this.target = this.evaluation.function;
    }
  }
}
