import { CustomResource, Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import type { App } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { beforeAll, describe, expect, it } from 'vitest';
import type { XpStacks } from '../app.js';
import { retainFunctionLogs } from '../app.js';
import { EnvVar } from '../../functions/runtime.js';
import { FunctionEntry } from '../bundling.js';
import { logRetention, parseConfig } from '../config.js';
import type { XpConfig } from '../config.js';
import { migrationsDigest } from '../database-migrations.js';
import { XpFunction } from '../xp-function.js';
import { asStack, stubCode, synthXp } from './synth-helpers.js';

interface Resource {
  Type: string;
  Properties?: Record<string, any>;
  DependsOn?: string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Metadata?: { cdk_nag?: { rules_to_suppress?: { id: string; reason: string }[] } };
}

const resourcesOf = (s: unknown): Record<string, Resource> => Template.fromStack(asStack(s)).toJSON().Resources as Record<string, Resource>;

/** The one resource of `type` whose logical id starts with `prefix`, with its id. */
function only(resources: Record<string, Resource>, type: string, prefix = ''): [string, Resource] {
  const found = Object.entries(resources).filter(([id, r]) => r.Type === type && id.startsWith(prefix));
  expect(found.map(([id]) => id)).toHaveLength(1);
  return found[0]!;
}

/**
 * The logical IDs of the api stack's migration resources as deployed before DatabaseMigrations
 * existed (synthesized from that code). CDK derives them from construct paths, not from its version:
 * any change here replaces resources of existing deployments (and breaks the observability stack's
 * imports of the Migrate function and log group).
 */
const DEPLOYED_API_MIGRATION_IDS = [
  'MigrateDatabaseIngress68EC1670',
  'MigrateFunctionE2483A46',
  'MigrateLogsBDEC375F',
  'MigrateRole893862C7',
  'MigrateRoleDefaultPolicy309B40E1',
  'MigrateSecurityGroupBB2BAE35',
  'Migrations',
  'MigrationsProviderLogsB26457E9',
  'MigrationsProviderframeworkonEvent33437111',
  'MigrationsProviderframeworkonEventServiceRoleDefaultPolicyE6A419A5',
  'MigrationsProviderframeworkonEventServiceRoleEC5DE9CC',
];

const isApiMigrationId = (id: string): boolean => /^Migrat(e|ions)/.test(id);

/**
 * The api stack's migrations exactly as its constructor built them before DatabaseMigrations
 * (verbatim, frozen: do not edit to make a test pass), on a stack of its own in the same app.
 * Logical IDs come from paths inside a stack, so its resources carry the same ids as the api stack's.
 * One deliberate change since, marked below: the application database user (the migrations connect
 * as the master user, `data.database` then; they get the application user's secret, which the
 * custom resource's properties name).
 */
function legacyApiMigrations(app: App, stacks: XpStacks, config: XpConfig): Stack {
  const stack = new Stack(app, 'LegacyMigrations', { env: { account: stacks.api.account, region: stacks.api.region } });
  const { data } = stacks;
  // As buildXp passes it: CDK's optional VPC properties clash with exactOptionalPropertyTypes.
  const vpc = stacks.network.vpc as ec2.IVpc;
  const code = { code: stubCode };
  // As buildXp tags every stack of a stage.
  Tags.of(stack).add('xp:stage', config.stage);
  const migrate = new XpFunction(stack, 'Migrate', {
    entry: FunctionEntry.Migrate,
    stage: config.stage,
    vpc,
    timeout: Duration.minutes(5),
    logRetention: logRetention(config),
    description: 'xp database migrations (CloudFormation custom resource)',
    ...code,
  })
    // The application database user: the master user's binding (named `database` before), and the application user's secret.
    .bindDatabase(data.migrationDatabase)
    .bindSecret(data.database.secret, EnvVar.DbAppSecretArn)
    .bindTable(data.rulesets, 'readWrite')
    .bindSecret(data.adminSecret, EnvVar.AdminSecretArn)
    .setEnvironment(EnvVar.AdminEmail, config.adminEmail);
  const providerLogs = new logs.LogGroup(stack, 'MigrationsProviderLogs', { retention: logRetention(config), removalPolicy: RemovalPolicy.DESTROY });
  const provider = new cr.Provider(stack, 'MigrationsProvider', { onEventHandler: migrate.function, logGroup: providerLogs });
  const migrations = new CustomResource(stack, 'Migrations', {
    serviceToken: provider.serviceToken,
    resourceType: 'Custom::XpMigrations',
    // The application database user: its secret, so that an older deployment migrates again.
    properties: { digest: migrationsDigest(), appSecret: data.database.secret.secretArn },
  });
  migrations.node.addDependency(data.cluster);
  migrations.node.addDependency(migrate);
  return stack;
}

/** What CloudFormation deploys of a resource: everything but the metadata (construct path, cdk-nag notes). */
const deployed = (r: Resource): Omit<Resource, 'Metadata'> => {
  const { Metadata: _metadata, ...rest } = r;
  return rest;
};

describe.each([
  ['default configuration', {}],
  ['RDS Proxy, shared cache', { stage: 'prod', databaseProxy: true, sharedCache: { engine: 'valkey' as const } }],
])('database migrations (%s)', (_name, input) => {
  let stacks: XpStacks;
  let api: Record<string, Resource>;
  let legacy: Record<string, Resource>;
  let evaluation: Record<string, Resource>;
  let config: XpConfig;

  beforeAll(() => {
    config = parseConfig({ account: '123456789012', region: 'eu-west-1', alarmEmail: 'ops@example.com', ...input });
    const built = synthXp(input, { nag: false });
    stacks = built.stacks;
    const reference = legacyApiMigrations(built.app, stacks, config);
    // As buildXp does for every stack of a retained stage (a deletion policy, no replacement).
    if (config.removalPolicy === 'retain') {
      retainFunctionLogs(reference);
    }
    built.app.synth();
    api = resourcesOf(stacks.api);
    // The one property that names the stack's construct path: the provider framework's description.
    legacy = JSON.parse(JSON.stringify(resourcesOf(reference)).split(`(${reference.node.path}/`).join(`(${asStack(stacks.api).node.path}/`)) as Record<string, Resource>;
    evaluation = resourcesOf(stacks.evaluation);
  });

  it("keeps the api stack's migration resources as deployed: the same logical IDs, and the same properties and dependencies as the code they came from", () => {
    const ids = Object.keys(api).filter(isApiMigrationId).sort();

    expect(ids).toEqual(DEPLOYED_API_MIGRATION_IDS);
    expect(Object.keys(legacy).filter(isApiMigrationId).sort()).toEqual(DEPLOYED_API_MIGRATION_IDS);
    for (const id of ids) {
      expect({ id, ...deployed(api[id]!) }).toEqual({ id, ...deployed(legacy[id]!) });
    }
    expect(Object.keys(api).filter((id) => id.startsWith('Early'))).toEqual([]);
    // What the api stack exposes still names them (the observability stack imports the function and its log group).
    expect(asStack(stacks.api).resolve(stacks.api.migrate.function.functionName)).toEqual({ Ref: 'MigrateFunctionE2483A46' });
    expect(asStack(stacks.api).resolve(stacks.api.migrations.ref)).toEqual({ Ref: 'Migrations' });
  });

  it('migrates in the evaluation stack, with the same digest and the same handler, bindings and permissions as the api stack', () => {
    const [id, early] = only(evaluation, 'Custom::XpMigrations');
    const [, apiMigrations] = only(api, 'Custom::XpMigrations');
    const [migrateId, migrate] = only(evaluation, 'AWS::Lambda::Function', 'EarlyMigrateFunction');
    const [, apiMigrate] = only(api, 'AWS::Lambda::Function', 'MigrateFunction');
    const ingress = Object.keys(evaluation).find((i) => i.startsWith('EarlyMigrateDatabaseIngress'));
    const actions = Object.entries(evaluation)
      .filter(([i, r]) => r.Type === 'AWS::IAM::Policy' && i.startsWith('EarlyMigrateRole'))
      .flatMap(([, r]) => (r.Properties!.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((s) => s.Action));

    expect(id).toBe('EarlyMigrations');
    expect(early.Properties!.digest).toBe(migrationsDigest());
    expect(early.Properties!.digest).toBe(apiMigrations.Properties!.digest);
    expect(early.Properties!.digest).toMatch(/^[0-9a-f]{16}$/);
    // Through its own provider framework, on its own function.
    const [frameworkId, framework] = only(evaluation, 'AWS::Lambda::Function', 'EarlyMigrationsProviderframeworkonEvent');
    expect(early.Properties!.ServiceToken).toEqual({ 'Fn::GetAtt': [frameworkId, 'Arn'] });
    expect(framework.Properties!.Environment.Variables.USER_ON_EVENT_FUNCTION_ARN).toEqual({ 'Fn::GetAtt': [migrateId, 'Arn'] });
    // After the writer's stack (a stack dependency) and the rule that lets the function reach the database.
    expect(early.DependsOn).toContain(ingress);
    expect(stacks.evaluation.dependencies.map((d) => d.stackName)).toContain(stacks.data.stackName);
    // The same handler and variables: database, rulesets table, first owner's secret and address.
    expect(migrate.Properties!.Handler).toBe(apiMigrate.Properties!.Handler);
    expect(migrate.Properties!.Timeout).toBe(apiMigrate.Properties!.Timeout);
    expect(Object.keys(migrate.Properties!.Environment.Variables).sort()).toEqual(Object.keys(apiMigrate.Properties!.Environment.Variables).sort());
    expect(migrate.Properties!.Environment.Variables).toMatchObject({
      [EnvVar.DbSecretArn]: expect.anything(),
      [EnvVar.RulesetTable]: expect.anything(),
      [EnvVar.AdminSecretArn]: expect.anything(),
      [EnvVar.AdminEmail]: config.adminEmail,
    });
    expect(JSON.stringify(migrate.Properties!.Environment.Variables)).toBe(JSON.stringify(apiMigrate.Properties!.Environment.Variables));
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:BatchWriteItem', 'secretsmanager:GetSecretValue']));
  });

  it('updates the evaluation function only after the migrations ran', () => {
    const [, fn] = only(evaluation, 'AWS::Lambda::Function', 'EvaluationFunction');

    expect(fn.DependsOn).toContain('EarlyMigrations');
  });
});

describe('database migrations with provisioned evaluation concurrency', () => {
  it('publishes the version and moves the live alias only after the migrations ran', () => {
    const { app, stacks } = synthXp({ stage: 'qa', evaluationProvisionedConcurrency: 2 }, { nag: false });
    app.synth();
    const evaluation = resourcesOf(stacks.evaluation);
    const [, version] = only(evaluation, 'AWS::Lambda::Version');
    const [, alias] = only(evaluation, 'AWS::Lambda::Alias');
    const [, fn] = only(evaluation, 'AWS::Lambda::Function', 'EvaluationFunction');

    expect(alias.Properties!.ProvisionedConcurrencyConfig).toEqual({ ProvisionedConcurrentExecutions: 2 });
    for (const r of [fn, version, alias]) {
      expect(r.DependsOn).toContain('EarlyMigrations');
    }
  });
});

describe('database migrations and cdk-nag', () => {
  it("suppresses for the evaluation stack's migrations provider exactly what it suppresses for the api stack's", () => {
    const { app, stacks } = synthXp({}, { nag: false });
    app.synth();
    const rules = (resources: Record<string, Resource>, prefix: string): { id: string; reason: string }[] =>
      only(resources, 'AWS::Lambda::Function', prefix)[1].Metadata?.cdk_nag?.rules_to_suppress ?? [];
    const apiRules = rules(resourcesOf(stacks.api), 'MigrationsProviderframeworkonEvent');

    expect(apiRules.map((r) => r.id).sort()).toEqual(['AwsSolutions-IAM4', 'AwsSolutions-IAM5', 'AwsSolutions-L1']);
    expect(rules(resourcesOf(stacks.evaluation), 'EarlyMigrationsProviderframeworkonEvent')).toEqual(apiRules);
  });
});
