import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { XpStacks } from '../app.js';
import { EDGE_TOKEN_HEADER, EnvVar } from '../../functions/runtime.js';
import { PIPELINE_MAPPING, maxRecordAgeHours } from '../pipeline-stack.js';
import { ARCHIVE_NONCURRENT_VERSION_DAYS } from '../event-archive.js';
import { API_ROUTE_LATENCY_STATISTICS, ROLLBACK_ASYNC, THRESHOLDS, apiRouteLatencySearch } from '../observability-stack.js';
import { policyStatements, wildcardViolations } from './iam-scan.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnSecurityGroupIngress } from 'aws-cdk-lib/aws-ec2';
import { asStack, dataStoreIngress, nagFindings, openIngress, synthXp, templates } from './synth-helpers.js';
import type { Templates } from './synth-helpers.js';

/** How many resources of `type` match `properties` (and optional resource attributes such as DeletionPolicy). */
function count(t: Template, type: string, properties: Record<string, unknown>, attributes: Record<string, unknown> = {}): number {
  return Object.keys(t.findResources(type, { ...(Object.keys(properties).length === 0 ? {} : { Properties: Match.objectLike(properties) }), ...attributes })).length;
}

/** Policy actions granted to the role of the function whose construct id is `fn`. */
function actionsOf(t: Template, fn: string): string[] {
  return Object.entries(t.findResources('AWS::IAM::Policy'))
    .filter(([id]) => id.startsWith(`${fn}Role`))
    .flatMap(([, r]) => ((r as { Properties: { PolicyDocument: { Statement: { Action: string | string[] }[] } } }).Properties.PolicyDocument.Statement).flatMap((s) => s.Action));
}

describe('the CDK app (default configuration, cdk-nag AwsSolutions applied)', () => {
  let stacks: XpStacks;
  let t: Templates;

  beforeAll(() => {
    const built = synthXp();
    built.app.synth();
    stacks = built.stacks;
    t = templates(stacks);
  });

  it('synthesizes seven stacks named after the stage', () => {
    expect(Object.values(stacks).map((s) => s.stackName)).toEqual([
      'xp-dev-network',
      'xp-dev-data',
      'xp-dev-evaluation',
      'xp-dev-api',
      'xp-dev-pipeline',
      'xp-dev-console',
      'xp-dev-observability',
    ]);
  });

  it('has no unsuppressed cdk-nag AwsSolutions finding, and every suppression gives a reason', () => {
    const findings = nagFindings(stacks);
    const suppressions = Object.values(t).flatMap((template) =>
      Object.values(template.toJSON().Resources as Record<string, { Metadata?: { cdk_nag?: { rules_to_suppress?: { id: string; reason: string }[] } } }>).flatMap((r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []),
    );

    expect(findings).toEqual([]);
    expect(suppressions.length).toBeGreaterThan(0);
    expect(suppressions.filter((s) => s.reason.length < 40)).toEqual([]);
  });

  it('grants no wildcard IAM action, and "*" resources only for actions AWS cannot scope', () => {
    const statements = policyStatements(t);

    expect(statements.length).toBeGreaterThan(20);
    expect(wildcardViolations(statements)).toEqual([]);
  });

  it('keeps a retained stage\'s database outright (with what it needs), so destroy does not end in DELETE_FAILED', () => {
    const data = t.data.toJSON().Resources as Record<string, { Type: string; DeletionPolicy?: string }>;
    const policies = (type: string): (string | undefined)[] => Object.values(data).filter((r) => r.Type === type).map((r) => r.DeletionPolicy);

    expect(policies('AWS::RDS::DBCluster')).toEqual(['Retain']);
    expect(policies('AWS::RDS::DBSubnetGroup')).toEqual(['Retain']);
    expect(policies('AWS::SecretsManager::Secret').every((p) => p === 'Retain')).toBe(true);
    expect(Object.entries(data).filter(([id, r]) => r.Type === 'AWS::EC2::SecurityGroup' && id.startsWith('Database')).map(([, r]) => r.DeletionPolicy)).toEqual(['Retain']);
  });

  it('runs the migrations after the rule that lets the migrations function reach the database', () => {
    const resources = t.api.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[] }>;
    const migrations = Object.values(resources).find((r) => r.Type === 'Custom::XpMigrations')!;
    const ingress = Object.keys(resources).find((id) => id.startsWith('MigrateDatabaseIngress'))!;

    expect(migrations.DependsOn).toContain(ingress);
  });

  it('updates every function of the api stack that uses the database only after the migrations ran, and deploys the aggregator after the api stack', () => {
    const resources = t.api.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[]; Properties: Record<string, any> }>;
    const [migrationsId] = Object.entries(resources).find(([, r]) => r.Type === 'Custom::XpMigrations')!;
    const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Description).startsWith('xp '));
    const usesDatabase = functions.filter((f) => f.Properties.Environment?.Variables?.[EnvVar.DbSecretArn] !== undefined && !String(f.Properties.Description).startsWith('xp database migrations'));

    expect(usesDatabase.map((f) => String(f.Properties.Description)).sort()).toEqual([expect.stringMatching(/^xp management API/), expect.stringMatching(/^xp webhook dispatcher/)]);
    for (const f of usesDatabase) {
      expect(f.DependsOn).toContain(migrationsId);
    }
    expect(stacks.pipeline.dependencies.map((d) => d.stackName)).toContain('xp-dev-api');
  });

  it('admits to the database only security groups: every ingress rule of every stack on a data-stack group names a source group', () => {
    const rules = dataStoreIngress(t);

    // The eight functions that use the database (two of them the migrations functions of the
    // evaluation and api stacks), each with its own rule in its own stack.
    expect(rules.filter((r) => r.properties.FromPort === 5432)).toHaveLength(8);
    expect(openIngress(rules)).toEqual([]);
  });

  it('the ingress scan itself catches a CIDR rule on the database group added in a consumer stack', () => {
    const { app, stacks: bad } = synthXp({}, { nag: false });
    new CfnSecurityGroupIngress(bad.pipeline, 'OpenDatabase', { groupId: bad.data.database.securityGroupId, ipProtocol: 'tcp', fromPort: 5432, toPort: 5432, cidrIp: '0.0.0.0/0' });
    app.synth();

    expect(openIngress(dataStoreIngress(templates(bad)))).toEqual([expect.stringMatching(/^pipeline\/OpenDatabase.*: "0\.0\.0\.0\/0"$/)]);
  });

  it('emits the stack outputs deploy.mjs reads, under the names it reads them by', () => {
    const script = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/deploy.mjs'), 'utf8');
    const expected: [Template, string[]][] = [
      [t.api, ['ApiUrl', 'InitialOwnerPasswordSecret']],
      [t.console, ['ConsoleUrl', 'ConsoleBucket', 'ConsoleDistributionId']],
    ];

    for (const [template, names] of expected) {
      for (const name of names) {
        expect(Object.keys(template.findOutputs(name))).toEqual([name]);
        expect(script).toContain(`.${name}`);
      }
    }
    expect(script).toContain('`xp-${options.stage}-api`');
    expect(script).toContain('`xp-${options.stage}-console`');
    expect(stacks.api.stackName).toBe('xp-dev-api');
    expect(stacks.console.stackName).toBe('xp-dev-console');
  });

  it('the IAM scan itself catches wildcard actions and scopable actions on "*"', () => {
    const bad = wildcardViolations([
      { where: 'x', actions: ['dynamodb:*'], resources: ['arn:aws:dynamodb:eu-west-1:1:table/t'], effect: 'Allow' },
      { where: 'y', actions: ['s3:GetObject', 'xray:PutTraceSegments'], resources: ['*'], effect: 'Allow' },
    ]);

    expect(bad).toEqual(['x: wildcard action dynamodb:*', 'y: s3:GetObject on "*"']);
  });

  it('gives each function exactly the data-plane actions its code calls', () => {
    const evaluation = actionsOf(t.evaluation, 'Evaluation');
    const api = actionsOf(t.api, 'Api');
    const aggregator = actionsOf(t.pipeline, 'Aggregator');

    expect(evaluation).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'kinesis:PutRecords', 'secretsmanager:GetSecretValue']));
    expect(evaluation).not.toContain('dynamodb:PutItem');
    expect(api).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:BatchWriteItem', 'cloudwatch:GetMetricData']));
    expect(api).not.toContain('kinesis:PutRecords');
    expect(aggregator).toEqual(expect.arrayContaining(['kinesis:GetRecords', 'kinesis:GetShardIterator', 'sqs:SendMessage']));
    expect(aggregator.filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
  });

  it('connects every function as the application database user, and only the migrations as the master user that creates it', () => {
    const master = /ExportsOutputRefDatabaseSecretAttachment/;
    const app = /ExportsOutputRefAppDatabaseSecretAttachment/;
    const isMigrations = (id: string): boolean => /^(Early)?Migrate/.test(id);
    const connects: [string, string][] = [];
    const readsMaster: string[] = [];
    const migrationsGetApp: boolean[] = [];
    for (const [stack, template] of Object.entries(t)) {
      for (const [id, fn] of Object.entries(template.findResources('AWS::Lambda::Function'))) {
        const variables = (fn as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties.Environment?.Variables ?? {};
        const secret = JSON.stringify(variables[EnvVar.DbSecretArn] ?? null);
        if (secret !== 'null') {
          connects.push([`${stack}/${id}`, master.test(secret) ? 'master' : app.test(secret) ? 'app' : secret]);
        }
        if (isMigrations(id)) {
          migrationsGetApp.push(app.test(JSON.stringify(variables[EnvVar.DbAppSecretArn] ?? null)));
        }
      }
      for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
        if (master.test(JSON.stringify(policy))) {
          readsMaster.push(`${stack}/${id}`);
        }
      }
    }

    // Eight functions use the database: two migrations (evaluation and api stacks) and six others.
    expect(connects.filter(([, user]) => user === 'master').map(([id]) => id).sort()).toEqual([expect.stringMatching(/^api\/MigrateFunction/), expect.stringMatching(/^evaluation\/EarlyMigrateFunction/)]);
    expect(connects.filter(([, user]) => user !== 'master' && user !== 'app')).toEqual([]);
    expect(connects.filter(([, user]) => user === 'app')).toHaveLength(6);
    expect(readsMaster.every((id) => /^(api|evaluation)\/(Early)?Migrate/.test(id))).toBe(true);
    expect(migrationsGetApp).toEqual([true, true]);
    expect(count(t.data, 'AWS::SecretsManager::Secret', { Name: 'xp/dev/database-app', GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"username":"xp_app"}' }) })).toBe(1);
    expect(count(t.data, 'AWS::SecretsManager::Secret', { Name: 'xp/dev/database-app' }, { DeletionPolicy: 'Retain' })).toBe(1);
  });

  it('keeps the database private, encrypted, protected and retained', () => {
    expect(count(t.data, 'AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      StorageEncrypted: true,
      DeletionProtection: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
      EnableCloudwatchLogsExports: ['postgresql'],
    })).toBeGreaterThan(0);
    expect(count(t.data, 'AWS::RDS::DBInstance', { PubliclyAccessible: false, DBInstanceClass: 'db.serverless' })).toBeGreaterThan(0);
    expect(count(t.data, 'AWS::RDS::DBCluster', {}, { DeletionPolicy: 'Retain' })).toBeGreaterThan(0);
    const subnets = Object.values(t.network.findResources('AWS::EC2::Subnet')) as { Properties: { MapPublicIpOnLaunch?: boolean } }[];
    expect(subnets.length).toBe(2);
    expect(subnets.every((s) => s.Properties.MapPublicIpOnLaunch !== true)).toBe(true);
    expect(count(t.network, 'AWS::EC2::InternetGateway', {})).toBe(0);
    expect(count(t.network, 'AWS::EC2::NatGateway', {})).toBe(0);
    const ingress = Object.values(t.data.findResources('AWS::EC2::SecurityGroup')).flatMap((g) => (g as { Properties: { SecurityGroupIngress?: { CidrIp?: string }[] } }).Properties.SecurityGroupIngress ?? []);
    expect(ingress.filter((r) => r.CidrIp === '0.0.0.0/0')).toEqual([]);
  });

  it('encrypts and retains the rulesets table with point-in-time recovery, the stream, and the failure queue', () => {
    expect(count(t.data, 'AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'version', KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      BillingMode: 'PAY_PER_REQUEST',
    })).toBeGreaterThan(0);
    expect(count(t.data, 'AWS::DynamoDB::Table', {}, { DeletionPolicy: 'Retain' })).toBeGreaterThan(0);
    expect(count(t.data, 'AWS::Kinesis::Stream', { StreamModeDetails: { StreamMode: 'ON_DEMAND' }, StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' }, RetentionPeriodHours: 24 })).toBeGreaterThan(0);
    expect(count(t.data, 'AWS::Kinesis::Stream', {}, { DeletionPolicy: 'Retain' })).toBeGreaterThan(0);
    expect(count(t.data, 'AWS::SQS::Queue', { SqsManagedSseEnabled: true })).toBeGreaterThan(0);
  });

  it('maps the stream to the aggregator with partial batch responses, bisect, retries until a max age 12 h below the retention, and an SQS destination', () => {
    expect(count(t.pipeline, 'AWS::Lambda::EventSourceMapping', {
      BatchSize: PIPELINE_MAPPING.batchSize,
      MaximumBatchingWindowInSeconds: PIPELINE_MAPPING.maxBatchingWindowSeconds,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ParallelizationFactor: 1,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    })).toBe(1);
    const [mapping] = Object.values(t.pipeline.findResources('AWS::Lambda::EventSourceMapping')) as { Properties: Record<string, unknown> }[];
    const [stream] = Object.values(t.data.findResources('AWS::Kinesis::Stream')) as { Properties: { RetentionPeriodHours: number } }[];
    // A database outage must hold the shard back (IteratorAge alarms), not skip the batch after a few retries.
    expect(mapping!.Properties.MaximumRetryAttempts).toBe(-1);
    // A skipped batch's sequence numbers must still be readable from the stream: 12 h of margin.
    expect(mapping!.Properties.MaximumRecordAgeInSeconds).toBe(12 * 3600);
    expect(mapping!.Properties.MaximumRecordAgeInSeconds as number).toBeLessThanOrEqual((stream!.Properties.RetentionPeriodHours - 12) * 3600);
  });

  it('keeps the maximum record age 12 h below any allowed stream retention, within Lambda\'s 1 h to 7 days', () => {
    expect(maxRecordAgeHours(24)).toBe(12);
    expect(maxRecordAgeHours(72)).toBe(60);
    expect(maxRecordAgeHours(180)).toBe(168);
    expect(maxRecordAgeHours(8760)).toBe(168);
    for (const hours of [24, 25, 36, 48, 168, 179, 180, 8760]) {
      expect(maxRecordAgeHours(hours)).toBeGreaterThanOrEqual(1);
      expect(maxRecordAgeHours(hours)).toBeLessThanOrEqual(hours - 12);
    }
  });

  it('runs every function on Node.js 24, arm64, with active tracing, source maps and a log group with retention', () => {
    const functions = Object.values(t).flatMap((template) =>
      Object.values(template.findResources('AWS::Lambda::Function')).filter((f) => (f as { Properties: { Description?: string } }).Properties.Description?.startsWith('xp ') === true),
    ) as { Properties: Record<string, any> }[];
    const logGroups = Object.values(t).flatMap((template) => Object.values(template.findResources('AWS::Logs::LogGroup'))) as { Properties: { RetentionInDays?: number } }[];

    expect(functions).toHaveLength(10);
    for (const f of functions) {
      expect(f.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' }, LoggingConfig: { LogGroup: expect.anything() } });
      expect(f.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
    // Every function that reaches the database, the stream or the cache runs in the private
    // subnets; the log forwarder only calls CloudWatch Logs and the webhook sender only the
    // receivers on the internet, so they stay outside the VPC.
    const outside = functions.filter((f) => f.Properties.VpcConfig === undefined).map((f) => String(f.Properties.Description));
    expect(outside.sort()).toEqual([expect.stringMatching(/^xp log forwarder/), expect.stringMatching(/^xp webhook sender/)]);
    expect(functions.filter((f) => f.Properties.VpcConfig !== undefined).every((f) => f.Properties.VpcConfig.SubnetIds.length === 2)).toBe(true);
    expect(logGroups.length).toBeGreaterThanOrEqual(9);
    expect(logGroups.every((g) => g.Properties.RetentionInDays === 30)).toBe(true);
  });

  it('fronts the functions with a throttled HTTP API with access logs, SDK routes on the evaluation function', () => {
    expect(count(t.api, 'AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000, DetailedMetricsEnabled: true },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    })).toBeGreaterThan(0);
    const routes = Object.values(t.api.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r as { Properties: { RouteKey: string } }).Properties.RouteKey);
    expect(routes.sort()).toEqual(['$default', 'ANY /ofrep/v1/{proxy+}', 'ANY /sdk/v1/{proxy+}', 'GET /r/{experimentKey}']);
    // OFREP (OpenFeature's remote evaluation protocol) goes to the evaluation function, as /sdk/v1 does.
    const integrationOf = (key: string): unknown => {
      const route = Object.values(t.api.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: key } }))[0] as { Properties: { Target: unknown } };
      return route.Properties.Target;
    };
    expect(integrationOf('ANY /ofrep/v1/{proxy+}')).toEqual(integrationOf('ANY /sdk/v1/{proxy+}'));
    // The SDK routes throttle in a bucket of their own, after the routes exist.
    const sdkLimits = { ThrottlingRateLimit: 2000, ThrottlingBurstLimit: 4000, DetailedMetricsEnabled: true };
    expect(count(t.api, 'AWS::ApiGatewayV2::Stage', { RouteSettings: { 'ANY /sdk/v1/{proxy+}': sdkLimits, 'GET /r/{experimentKey}': sdkLimits, 'ANY /ofrep/v1/{proxy+}': sdkLimits } })).toBe(1);
    const resources = t.api.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[] }>;
    const stage = Object.values(resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage')!;
    const routeIds = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Route').map(([id]) => id).filter((id) => !id.includes('Default'));
    expect(routeIds.every((id) => stage.DependsOn?.includes(id))).toBe(true);
    expect(count(t.api, 'Custom::XpMigrations', { digest: Match.stringLikeRegexp('^[0-9a-f]{16}$') })).toBeGreaterThan(0);
  });

  it('serves the console from a private bucket through CloudFront with origin access control and HTTPS', () => {
    expect(count(t.console, 'AWS::S3::Bucket', { PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true } })).toBeGreaterThan(0);
    expect(count(t.console, 'AWS::CloudFront::OriginAccessControl', {})).toBe(1);
    expect(count(t.console, 'AWS::CloudFront::Distribution', {
      DistributionConfig: { DefaultCacheBehavior: { ViewerProtocolPolicy: 'redirect-to-https' }, DefaultRootObject: 'index.html', Logging: Match.anyValue() },
    })).toBeGreaterThan(0);
    // The API's 403s (FORBIDDEN, APPROVAL_REQUIRED) reach the console through this origin as they are.
    expect(count(t.console, 'AWS::CloudFront::Distribution', { DistributionConfig: { CustomErrorResponses: Match.anyValue() } })).toBe(0);
  });

  it('proxies every route of the HTTP API under the console\'s origin (SDK, OFREP, redirects), as the local console port does', () => {
    const [distribution] = Object.values(t.console.findResources('AWS::CloudFront::Distribution')) as { Properties: { DistributionConfig: { CacheBehaviors: { PathPattern: string }[] } } }[];
    const patterns = distribution!.Properties.DistributionConfig.CacheBehaviors.map((b) => b.PathPattern);
    const routes = Object.values(t.api.findResources('AWS::ApiGatewayV2::Route'))
      .map((r) => (r as { Properties: { RouteKey: string } }).Properties.RouteKey)
      .filter((key) => key !== '$default');
    // `ANY /ofrep/v1/{proxy+}` → `/ofrep/*`: the route's first path segment, forwarded whole.
    const prefixes = routes.map((key) => `/${key.split(' ')[1]!.split('/')[1]!}/*`);

    expect(prefixes).toContain('/ofrep/*');
    expect(prefixes.filter((p) => !patterns.includes(p))).toEqual([]);
    expect(patterns).toContain('/api/*');
  });

  it("tells the API function which requests come through the console's CloudFront (edge token header), so logins are throttled per viewer", () => {
    const [distribution] = Object.values(t.console.findResources('AWS::CloudFront::Distribution')) as { Properties: { DistributionConfig: { Origins: { CustomOriginConfig?: unknown; OriginCustomHeaders?: { HeaderName: string; HeaderValue: unknown }[] }[] } } }[];
    const apiOrigin = distribution!.Properties.DistributionConfig.Origins.find((o) => o.CustomOriginConfig !== undefined)!;
    const [fn] = Object.values(t.api.findResources('AWS::Lambda::Function', { Properties: { Description: 'xp management API' } })) as { Properties: { Environment: { Variables: Record<string, unknown> } } }[];
    const header = apiOrigin.OriginCustomHeaders?.find((h) => h.HeaderName === EDGE_TOKEN_HEADER);

    const [secretId] = Object.keys(t.api.findResources('AWS::SecretsManager::Secret', { Properties: { Name: 'xp/dev/edge-token', GenerateSecretString: { PasswordLength: 48 } } }));

    expect(header).toBeDefined();
    // A random value generated into Secrets Manager, resolved by CloudFormation: nothing derives it from the stack's id.
    expect(secretId).toBeDefined();
    expect(fn!.Properties.Environment.Variables[EnvVar.EdgeToken]).toEqual({ 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']] });
    expect(JSON.stringify([fn, header])).not.toContain('AWS::StackId');
    // The console stack resolves the same secret, whose ARN it imports from the API stack.
    expect(JSON.stringify(header!.HeaderValue)).toContain('{{resolve:secretsmanager:');
    expect(JSON.stringify(header!.HeaderValue)).toContain('Fn::ImportValue');
  });

  it('alarms on error rate, iterator age, DLQ depth, dead letters, lost exposures and p99 latency, to an encrypted topic that e-mails ops', () => {
    const alarms = Object.values(t.observability.findResources('AWS::CloudWatch::Alarm')) as { Properties: Record<string, any> }[];
    const byName = (fragment: string): { Properties: Record<string, any> }[] => alarms.filter((a) => JSON.stringify(a.Properties.AlarmDescription ?? '').includes(fragment));

    expect(alarms.filter((a) => a.Properties.Metrics !== undefined && JSON.stringify(a.Properties.Metrics).includes('errors / invocations'))).toHaveLength(10);
    expect(byName('behind the event stream')[0]!.Properties).toMatchObject({ MetricName: 'IteratorAge', Threshold: THRESHOLDS.iteratorAgeMs });
    expect(byName('failure queue')[0]!.Properties).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
    expect(byName('dead-lettered')[0]!.Properties).toMatchObject({ Namespace: 'xp', MetricName: 'DeadLetters' });
    expect(byName('lost exposures')[0]!.Properties).toMatchObject({ Namespace: 'xp', MetricName: 'ExposuresDropped', Statistic: 'Sum', Threshold: THRESHOLDS.exposuresDropped, Dimensions: expect.arrayContaining([{ Name: 'Service', Value: 'evaluation' }]) });
    expect(byName('API p99')[0]!.Properties).toMatchObject({ MetricName: 'Latency', ExtendedStatistic: 'p99', Threshold: THRESHOLDS.apiP99Ms });
    expect(byName('SDK request p99')[0]!.Properties).toMatchObject({ MetricName: 'EvaluationLatency', ExtendedStatistic: 'p99' });
    expect(alarms.every((a) => Array.isArray(a.Properties.AlarmActions) && a.Properties.AlarmActions.length === 1)).toBe(true);
    expect(count(t.observability, 'AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() })).toBeGreaterThan(0);
    expect(count(t.observability, 'AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' })).toBeGreaterThan(0);
    expect(count(t.observability, 'AWS::CloudWatch::Dashboard', {})).toBe(2);
  });

  it('exports the alarm topic\'s ARN as a stack output, for subscribers other than the e-mail', () => {
    const [topic] = Object.keys(t.observability.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'xp dev alarms' } }));

    expect(topic).toBeDefined();
    expect(t.observability.findOutputs('AlarmTopicArn')).toEqual({ AlarmTopicArn: expect.objectContaining({ Value: { Ref: topic } }) });
  });

  it("graphs every route's API latency with the dimensions API Gateway gives HTTP API routes (no Route dimension)", () => {
    const [dashboard] = Object.values(t.observability.findResources('AWS::CloudWatch::Dashboard', { Properties: { DashboardName: 'xp-dev-api-performance' } })) as { Properties: { DashboardBody: unknown } }[];
    const body = JSON.stringify(dashboard!.Properties.DashboardBody);

    expect(body).not.toContain('Route');
    expect(body.split('{AWS/ApiGateway,ApiId,Method,Resource,Stage}')).toHaveLength(API_ROUTE_LATENCY_STATISTICS.length + 1);
    for (const statistic of API_ROUTE_LATENCY_STATISTICS) {
      expect(body).toContain(`'${statistic}', 300)`);
    }
    expect(apiRouteLatencySearch('a1b2c3', 'p99')).toBe(`SEARCH('{AWS/ApiGateway,ApiId,Method,Resource,Stage} MetricName="Latency" ApiId="a1b2c3"', 'p99', 300)`);
  });

  it("graphs the aggregator's skipped duplicate events beside its dead letters on the system-health dashboard", () => {
    const [dashboard] = Object.values(t.observability.findResources('AWS::CloudWatch::Dashboard', { Properties: { DashboardName: 'xp-dev-system-health' } })) as { Properties: { DashboardBody: unknown } }[];
    const body = JSON.stringify(dashboard!.Properties.DashboardBody);

    expect(body).toContain('Pipeline failures');
    expect(body).toContain('DuplicateEvents');
    expect(body).toContain('duplicate events skipped');
  });

  it('subscribes the alarm-rollback function to the guardrail topic', () => {
    expect(count(t.observability, 'AWS::SNS::Subscription', { Protocol: 'lambda' })).toBeGreaterThan(0);
  });

  it('keeps a guardrail rollback that failed for good in an encrypted dead-letter queue, and alarms on it to ops', () => {
    const queues = t.observability.findResources('AWS::SQS::Queue', { Properties: { SqsManagedSseEnabled: true } });
    const [queueId] = Object.keys(queues);
    const [subscription] = Object.values(t.observability.findResources('AWS::SNS::Subscription', { Properties: { Protocol: 'lambda' } })) as { Properties: Record<string, any> }[];
    const [invokeConfig] = Object.values(t.observability.findResources('AWS::Lambda::EventInvokeConfig')) as { Properties: Record<string, any> }[];
    const [rollbackId] = Object.keys(t.observability.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^xp alarm-driven rollback') } }));
    const [alarmTopicId] = Object.keys(t.observability.findResources('AWS::SNS::Topic', { Properties: { DisplayName: 'xp dev alarms' } }));
    const [dlqAlarm] = Object.values(t.observability.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }] } })) as { Properties: Record<string, any> }[];

    expect(Object.keys(queues)).toHaveLength(1);
    expect(subscription!.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [queueId, 'Arn'] } });
    expect(invokeConfig!.Properties).toMatchObject({
      FunctionName: { Ref: rollbackId },
      MaximumRetryAttempts: ROLLBACK_ASYNC.retryAttempts,
      MaximumEventAgeInSeconds: ROLLBACK_ASYNC.maxEventAgeHours * 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    expect(dlqAlarm!.Properties).toMatchObject({ Threshold: THRESHOLDS.rollbackDlqDepth, AlarmActions: [{ Ref: alarmTopicId }] });
  });

  it('alarms on the API 5xx rate, the event archive freshness and the log forwarder\'s errors', () => {
    const alarms = Object.values(t.observability.findResources('AWS::CloudWatch::Alarm')) as { Properties: Record<string, any> }[];
    const api5xx = alarms.find((a) => JSON.stringify(a.Properties.Metrics ?? []).includes('"MetricName":"5xx"'));
    const freshness = alarms.find((a) => a.Properties.MetricName === 'DeliveryToS3.DataFreshness');
    const [forwarderId] = Object.keys(t.observability.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^xp log forwarder') } }));

    expect(api5xx?.Properties).toMatchObject({ Threshold: THRESHOLDS.api5xxPercent, EvaluationPeriods: 2, ComparisonOperator: 'GreaterThanThreshold' });
    expect(JSON.stringify(api5xx!.Properties.Metrics)).toContain('"MetricName":"Count"');
    expect(freshness?.Properties).toMatchObject({
      Namespace: 'AWS/Firehose',
      Dimensions: [{ Name: 'DeliveryStreamName', Value: 'xp-dev-event-archive' }],
      Statistic: 'Maximum',
      Threshold: THRESHOLDS.archiveFreshnessSeconds,
    });
    expect(alarms.filter((a) => JSON.stringify(a.Properties.Metrics ?? []).includes(`"Value":{"Ref":"${forwarderId}"}`) && JSON.stringify(a.Properties.Metrics).includes('"MetricName":"Errors"'))).toHaveLength(1);
  });

  it('runs the statistical guardrail check every minute, with the database and the rulesets table', () => {
    const fns = t.observability.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^xp guardrail check') } });
    const [id] = Object.keys(fns);
    const rules = Object.values(t.observability.findResources('AWS::Events::Rule', { Properties: { ScheduleExpression: 'rate(1 minute)' } })) as { Properties: { Targets: { Arn: unknown }[] } }[];

    expect(Object.keys(fns)).toHaveLength(1);
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties.Targets[0]!.Arn).toEqual({ 'Fn::GetAtt': [id, 'Arn'] });
    expect(JSON.stringify(t.observability.findResources('AWS::IAM::Policy'))).toContain('dynamodb:PutItem');
  });

  it('places each of the 4 interface endpoints in both zones\' subnets by default (endpointAzs 2)', () => {
    const endpoints = Object.values(t.network.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } })) as { Properties: { SubnetIds: unknown[] } }[];
    const subnets = Object.keys(t.network.findResources('AWS::EC2::Subnet'));

    expect(endpoints).toHaveLength(4);
    expect(endpoints.map((e) => e.Properties.SubnetIds)).toEqual(endpoints.map(() => subnets.map((id) => ({ Ref: id }))));
  });

  it('tells the aggregator how long the event explorer keeps events (explorerRetentionDays, default 7)', () => {
    const [aggregator] = Object.values(t.pipeline.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^xp aggregator') } })) as { Properties: { Environment: { Variables: Record<string, unknown> } } }[];

    expect(aggregator!.Properties.Environment.Variables[EnvVar.ExplorerRetentionDays]).toBe('7');
  });

  it('removes the archive\'s noncurrent versions after 30 days and its delete markers once they are alone, one rule each', () => {
    const [bucket] = Object.values(t.pipeline.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } })) as { Properties: { LifecycleConfiguration: { Rules: Record<string, unknown>[] } } }[];
    const rules = bucket!.Properties.LifecycleConfiguration.Rules;

    expect(rules.filter((r) => r.ExpiredObjectDeleteMarker === true)).toEqual([{ Id: 'archive-expired-delete-markers', ExpiredObjectDeleteMarker: true, Status: 'Enabled' }]);
    expect(rules.filter((r) => r.NoncurrentVersionExpiration !== undefined).map((r) => r.NoncurrentVersionExpiration)).toEqual([{ NoncurrentDays: ARCHIVE_NONCURRENT_VERSION_DAYS }]);
    expect(rules.every((r) => r.Status === 'Enabled')).toBe(true);
  });
});

describe('with RDS Proxy and the shared cache', () => {
  it('admits to the proxy, the cluster and the cache only security groups, and has no unsuppressed cdk-nag finding', () => {
    const { app, stacks: proxied } = synthXp({ stage: 'prod', databaseProxy: true, sharedCache: { engine: 'valkey' } });
    app.synth();
    const rules = dataStoreIngress(templates(proxied));

    // Eight functions to the proxy (5432), the proxy to the cluster (its port, a reference), and two functions to the cache.
    expect(rules.filter((r) => r.properties.FromPort === 5432)).toHaveLength(8);
    expect(rules.filter((r) => r.properties.Description === 'Allow connections to the database Cluster from the Proxy')).toHaveLength(1);
    expect(rules.filter((r) => r.properties.FromPort === 6379)).toHaveLength(2);
    expect(rules).toHaveLength(11);
    expect(openIngress(rules)).toEqual([]);
    // The proxy signs in as both database users: the migrations' master user and the functions' application user.
    const auth = (Object.values(templates(proxied).data.findResources('AWS::RDS::DBProxy'))[0] as { Properties: { Auth: unknown[] } }).Properties.Auth;
    expect(JSON.stringify(auth)).toMatch(/"Ref":"DatabaseSecretAttachment[0-9A-F]+".*"Ref":"AppDatabaseSecretAttachment[0-9A-F]+"/);
    expect(nagFindings(proxied)).toEqual([]);
  });
});

describe('a throwaway stage', () => {
  it('synthesizes a throwaway (removalPolicy destroy) stage with cdk-nag on', () => {
    const { app, stacks: throwaway } = synthXp({ stage: 'preview', removalPolicy: 'destroy' });
    app.synth();

    expect(nagFindings(throwaway)).toEqual([]);
  });
});

describe('a development stage tuned for cost (FinOps review), cdk-nag on', () => {
  let stacks: XpStacks;
  let t: Templates;

  beforeAll(() => {
    const built = synthXp({
      stage: 'test-42',
      guardrailCheckMinutes: 10,
      endpointAzs: 1,
      stream: { mode: 'provisioned', shards: 2 },
      streamRetentionHours: 168,
      explorerRetentionDays: 30,
      aurora: { minCapacity: 0, maxCapacity: 4 },
    });
    built.app.synth();
    stacks = built.stacks;
    t = templates(stacks);
  }, 120_000);

  it('has no unsuppressed cdk-nag finding', () => {
    expect(nagFindings(stacks)).toEqual([]);
  });

  it('runs no Aurora reader and keeps 7 days of backups on a development stage other than dev', () => {
    expect(count(t.data, 'AWS::RDS::DBInstance', {})).toBe(1);
    expect(count(t.data, 'AWS::RDS::DBCluster', { BackupRetentionPeriod: 7, ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 4 } })).toBe(1);
  });

  it('runs the guardrail check every guardrailCheckMinutes, and nothing of the observability stack every minute', () => {
    const [id] = Object.keys(t.observability.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^xp guardrail check') } }));
    const rules = Object.values(t.observability.findResources('AWS::Events::Rule')) as { Properties: { ScheduleExpression?: string; Targets: { Arn: unknown }[] } }[];

    expect(rules.map((r) => [r.Properties.ScheduleExpression, r.Properties.Targets[0]!.Arn])).toEqual([['rate(10 minutes)', { 'Fn::GetAtt': [id, 'Arn'] }]]);
  });

  it('puts the interface endpoints in one zone\'s subnet (endpointAzs 1), while the VPC, the functions and Aurora keep both zones', () => {
    const endpoints = Object.values(t.network.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } })) as { Properties: { SubnetIds: unknown[] } }[];
    const gateways = Object.values(t.network.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Gateway' } }));
    const [subnetGroup] = Object.values(t.data.findResources('AWS::RDS::DBSubnetGroup')) as { Properties: { SubnetIds: unknown[] } }[];
    const [aggregator] = Object.values(t.pipeline.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^xp aggregator') } })) as { Properties: { VpcConfig: { SubnetIds: unknown[] } } }[];

    expect(endpoints).toHaveLength(4);
    expect(endpoints.map((e) => e.Properties.SubnetIds.length)).toEqual([1, 1, 1, 1]);
    expect(new Set(endpoints.map((e) => JSON.stringify(e.Properties.SubnetIds))).size).toBe(1);
    expect(gateways).toHaveLength(2);
    expect(Object.keys(t.network.findResources('AWS::EC2::Subnet'))).toHaveLength(2);
    expect(subnetGroup!.Properties.SubnetIds).toHaveLength(2);
    expect(aggregator!.Properties.VpcConfig.SubnetIds).toHaveLength(2);
  });

  it('provisions the stream with stream.shards shards, and keeps the aggregator\'s mapping one batch per shard with a max record age 12 h below the retention', () => {
    const [stream] = Object.values(t.data.findResources('AWS::Kinesis::Stream')) as { Properties: Record<string, unknown> }[];
    const [mapping] = Object.values(t.pipeline.findResources('AWS::Lambda::EventSourceMapping')) as { Properties: Record<string, unknown> }[];

    expect(stream!.Properties).toMatchObject({ StreamModeDetails: { StreamMode: 'PROVISIONED' }, ShardCount: 2, RetentionPeriodHours: 168 });
    expect(mapping!.Properties).toMatchObject({ ParallelizationFactor: 1, MaximumRecordAgeInSeconds: 156 * 3600 });
  });

  it('passes explorerRetentionDays to the aggregator, the one function that purges the event explorer', () => {
    const functions = Object.entries(t).flatMap(([stack, template]) =>
      Object.values(template.findResources('AWS::Lambda::Function')).map((f) => [stack, f as { Properties: { Description?: string; Environment?: { Variables?: Record<string, unknown> } } }] as const),
    );
    const setting = functions.filter(([, f]) => f.Properties.Environment?.Variables?.[EnvVar.ExplorerRetentionDays] !== undefined);

    expect(setting.map(([stack, f]) => [stack, f.Properties.Description, f.Properties.Environment!.Variables![EnvVar.ExplorerRetentionDays]])).toEqual([['pipeline', expect.stringMatching(/^xp aggregator/), '30']]);
  });
});

describe('configuration', () => {
  it('destroys data stores when asked, links guardrail alarms to flags, and provisions evaluation concurrency', () => {
    const { app, stacks } = synthXp(
      {
        stage: 'qa',
        removalPolicy: 'destroy',
        evaluationProvisionedConcurrency: 2,
        guardrails: [{ name: 'checkout-errors', project: 'shop', flag: 'new-checkout', environment: 'production', namespace: 'shop', metricName: 'CheckoutErrors', threshold: 5 }],
      },
      { nag: false },
    );
    app.synth();
    const data = Template.fromStack(asStack(stacks.data));
    const obs = Template.fromStack(asStack(stacks.observability));
    const evaluation = Template.fromStack(asStack(stacks.evaluation));

    expect(count(data, 'AWS::DynamoDB::Table', {}, { DeletionPolicy: 'Delete' })).toBeGreaterThan(0);
    expect(count(data, 'AWS::RDS::DBCluster', { DeletionProtection: false })).toBeGreaterThan(0);
    expect(count(obs, 'AWS::CloudWatch::Alarm', {
      MetricName: 'CheckoutErrors',
      Namespace: 'shop',
      AlarmDescription: Match.stringLikeRegexp('xp:rollback project=shop flag=new-checkout environment=production'),
    })).toBeGreaterThan(0);
    // The guardrail alarm switches the flag off through the guardrail topic and tells ops on the alarm topic.
    const [guardrail] = Object.values(obs.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'CheckoutErrors' } })) as { Properties: { AlarmActions: unknown[] } }[];
    const topics = Object.keys(obs.findResources('AWS::SNS::Topic'));
    expect(guardrail!.Properties.AlarmActions).toHaveLength(2);
    expect(guardrail!.Properties.AlarmActions).toEqual(expect.arrayContaining(topics.map((id) => ({ Ref: id }))));
    expect(count(evaluation, 'AWS::Lambda::Alias', { ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 } })).toBeGreaterThan(0);
  });

  it('takes a final snapshot of a throwaway stage\'s database, and protects a retained stage\'s data stack from termination', () => {
    const throwaway = synthXp({ stage: 'qa', removalPolicy: 'destroy' }, { nag: false });
    const retained = synthXp({ stage: 'qa' }, { nag: false });
    const cluster = (stacks: XpStacks): { DeletionPolicy?: string; UpdateReplacePolicy?: string } =>
      Object.values(Template.fromStack(asStack(stacks.data)).findResources('AWS::RDS::DBCluster'))[0] as { DeletionPolicy?: string; UpdateReplacePolicy?: string };

    // Switching a stage to "destroy" must never let a later destroy delete its database without a snapshot.
    expect(cluster(throwaway.stacks)).toMatchObject({ DeletionPolicy: 'Snapshot', UpdateReplacePolicy: 'Snapshot' });
    expect(cluster(retained.stacks)).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(throwaway.stacks.data.terminationProtection).toBe(false);
    expect(retained.stacks.data.terminationProtection).toBe(true);
    expect(throwaway.app.synth().getStackByName('xp-qa-data').terminationProtection).toBe(false);
    expect(retained.app.synth().getStackByName('xp-qa-data').terminationProtection).toBe(true);
    // Only the data stack: the others hold nothing that destroy could lose.
    expect(Object.values(retained.stacks).filter((s) => s.terminationProtection).map((s) => s.stackName)).toEqual(['xp-qa-data']);
  });

  it('turns X-Ray tracing off on every function, with its permissions, when tracing is false', () => {
    const { app, stacks } = synthXp({ tracing: false });
    app.synth();
    const t = templates(stacks);

    expect(nagFindings(stacks)).toEqual([]);
    const functions = Object.values(t).flatMap((template) => Object.values(template.findResources('AWS::Lambda::Function'))) as { Properties: { Description?: string; TracingConfig?: unknown } }[];
    const ours = functions.filter((f) => f.Properties.Description?.startsWith('xp ') === true);

    expect(ours).toHaveLength(10);
    expect(functions.filter((f) => f.Properties.TracingConfig !== undefined)).toEqual([]);
    expect(policyStatements(t).filter((s) => s.actions.some((a) => a.startsWith('xray:')))).toEqual([]);
    expect(() => synthXp({ tracing: 'yes' as unknown as boolean })).toThrow(/tracing/);
  });

  it('rejects an invalid configuration with every problem named', () => {
    expect(() => synthXp({ stage: 'Prod!', logRetentionDays: 31, aurora: { minCapacity: 8, maxCapacity: 2 } })).toThrow(/stage[\s\S]*logRetentionDays[\s\S]*aurora/);
  });
});
