/**
 * What the Well-Architected review asked of the templates: CloudWatch may publish to the alarm
 * topics, a stopped stream consumer alarms, Node.js 24, configurable backups with Performance
 * Insights and a versioned archive, no automatic Aurora minor upgrades, an optional console domain
 * with TLS 1.2, and an optional permissions boundary on every role.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { FunctionEntry, bundleOptions } from '../bundling.js';
import { AURORA_POSTGRES_16_VERSIONS, DEFAULT_AURORA_ENGINE_VERSION, parseConfig } from '../config.js';
import { ARCHIVE_NONCURRENT_VERSION_DAYS } from '../event-archive.js';
import { THRESHOLDS } from '../observability-stack.js';
import { XP_FUNCTION_RUNTIME, XpFunction } from '../xp-function.js';
import { nagFindings, stubCode, synthXp, templates } from './synth-helpers.js';
import type { Templates } from './synth-helpers.js';

type Resource = { Properties: Record<string, any>; DeletionPolicy?: string };
const resources = (t: Template, type: string): [string, Resource][] => Object.entries(t.findResources(type)) as [string, Resource][];
const all = (t: Templates, type: string): Resource[] => Object.values(t).flatMap((tpl) => resources(tpl, type).map(([, r]) => r));
const alarmByName = (t: Templates, name: string): Record<string, any> | undefined => all(t, 'AWS::CloudWatch::Alarm').map((r) => r.Properties).find((a) => a.AlarmName === name);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const deployMd = readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');
const operationsMd = readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
/** A section of deploy.md, from its heading to the next heading of any level. */
const section = (heading: string): string => {
  const start = deployMd.indexOf(`\n${heading}\n`);
  expect(start).toBeGreaterThan(-1);
  const rest = deployMd.slice(start + heading.length + 2);
  const end = rest.search(/\n#{2,4} /);
  return end === -1 ? rest : rest.slice(0, end);
};

describe('a production stage (the reviewer\'s configuration), cdk-nag on', () => {
  let t: Templates;
  let findings: string[];

  beforeAll(() => {
    const { app, stacks } = synthXp({ stage: 'prod', adminEmail: 'owner@example.com' });
    app.synth();
    t = templates(stacks);
    findings = nagFindings(stacks);
  }, 120_000);

  it('has no unsuppressed cdk-nag finding', () => {
    expect(findings).toEqual([]);
  });

  it('lets CloudWatch alarms of this account and region publish to both SNS topics, next to the TLS-only deny', () => {
    const topics = resources(t.observability, 'AWS::SNS::Topic');
    const policies = resources(t.observability, 'AWS::SNS::TopicPolicy').map(([, p]) => p.Properties);
    const sourceArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:eu-west-1:123456789012:alarm:*']] };

    expect(topics.map(([, r]) => r.Properties.DisplayName).sort()).toEqual(['xp prod alarms', 'xp prod flag guardrails']);
    for (const [topicId] of topics) {
      const policy = policies.find((p) => JSON.stringify(p.Topics) === JSON.stringify([{ Ref: topicId }]));
      const statements = policy?.PolicyDocument.Statement as Record<string, any>[];

      expect(statements).toContainEqual({
        Sid: 'AllowCloudWatchAlarmsToPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topicId },
        Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' }, ArnLike: { 'aws:SourceArn': sourceArn } },
      });
      expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    }
    // The key is still granted: publishing to an encrypted topic needs both.
    const [[, key]] = resources(t.observability, 'AWS::KMS::Key') as [[string, Resource]];
    expect(JSON.stringify(key.Properties.KeyPolicy)).toContain('cloudwatch.amazonaws.com');
  });

  it('alarms when a consumer of the stream falls behind or nothing reads it, and when records arrive but the aggregator is not invoked', () => {
    const stream = alarmByName(t, 'xp-prod-StreamIteratorAge');
    const stalled = alarmByName(t, 'xp-prod-AggregatorStalled');

    expect(stream).toMatchObject({
      Namespace: 'AWS/Kinesis',
      MetricName: 'GetRecords.IteratorAgeMilliseconds',
      Statistic: 'Maximum',
      Threshold: THRESHOLDS.iteratorAgeMs,
      TreatMissingData: 'breaching',
      Dimensions: [{ Name: 'StreamName', Value: { 'Fn::ImportValue': expect.any(String) } }],
    });
    const metrics = stalled?.Metrics as Record<string, any>[];
    expect(metrics.find((m) => m.ReturnData !== false)?.Expression).toBe('IF(FILL(incoming, 0) > 0 AND FILL(invocations, 0) == 0, 1, 0)');
    expect(metrics.filter((m) => m.MetricStat !== undefined).map((m) => `${m.MetricStat.Metric.Namespace} ${m.MetricStat.Metric.MetricName}`).sort()).toEqual(['AWS/Kinesis IncomingRecords', 'AWS/Lambda Invocations']);
    expect(stalled).toMatchObject({ Threshold: 1, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
  });

  it('lists every alarm in the alarm table of docs/deploy.md', () => {
    const table = section('### Alarms');
    const names = all(t, 'AWS::CloudWatch::Alarm').map((r) => String(r.Properties.AlarmName).replace(/^xp-prod-/, '').replace(/^(ErrorRate|Throttles)-.*$/, '$1-<function>'));

    expect(names).toContain('StreamIteratorAge');
    expect([...new Set(names)].filter((n) => !table.includes(`\`${n}\``))).toEqual([]);
  });

  it('runs every function on Node.js 24, bundled for node24', () => {
    const functions = all(t, 'AWS::Lambda::Function').filter((f) => String(f.Properties.Description).startsWith('xp '));

    expect(functions).toHaveLength(10);
    expect(functions.map((f) => f.Properties.Runtime)).toEqual(functions.map(() => 'nodejs24.x'));
    expect(XP_FUNCTION_RUNTIME.name).toBe('nodejs24.x');
    expect(bundleOptions(FunctionEntry.Api, '/tmp/unused').target).toBe('node24');
  });

  it('keeps 14 days of Aurora backups on a stage other than dev, with Performance Insights (7 days, free) and no automatic minor upgrade on every instance', () => {
    const [[, cluster]] = resources(t.data, 'AWS::RDS::DBCluster') as [[string, Resource]];
    const instances = resources(t.data, 'AWS::RDS::DBInstance').map(([, r]) => r.Properties);

    expect(cluster.Properties).toMatchObject({ BackupRetentionPeriod: 14, EngineVersion: DEFAULT_AURORA_ENGINE_VERSION });
    expect(instances).toHaveLength(2);
    for (const instance of instances) {
      expect(instance).toMatchObject({ AutoMinorVersionUpgrade: false, EnablePerformanceInsights: true, PerformanceInsightsRetentionPeriod: 7 });
    }
  });

  it('versions the event-archive bucket and expires noncurrent versions and lone delete markers', () => {
    const archive = resources(t.pipeline, 'AWS::S3::Bucket').map(([, r]) => r.Properties).find((b) => b.LifecycleConfiguration?.Rules?.[0]?.Id === 'archive-tiering-and-expiry');

    expect(archive).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      // The expired-delete-marker rule of its own: S3 refuses it in a rule with ExpirationInDays.
      LifecycleConfiguration: { Rules: [{ NoncurrentVersionExpiration: { NoncurrentDays: ARCHIVE_NONCURRENT_VERSION_DAYS }, ExpirationInDays: 365 }, { Id: 'archive-expired-delete-markers', ExpiredObjectDeleteMarker: true }] },
    });
  });

  it('serves the console on the default certificate, with the TLS finding suppressed only then', () => {
    const [[, distribution]] = resources(t.console, 'AWS::CloudFront::Distribution') as [[string, Resource]];

    expect(distribution.Properties.DistributionConfig.Aliases).toBeUndefined();
    expect(JSON.stringify(t.console.toJSON())).toContain('AwsSolutions-CFR4');
  });
});

describe('configured', () => {
  it('takes aurora.backupRetentionDays (1-35; default 7 on dev, 14 elsewhere)', () => {
    const retention = (input: Parameters<typeof synthXp>[0]): unknown => {
      const { app, stacks } = synthXp(input, { nag: false });
      app.synth();
      return (resources(templates(stacks).data, 'AWS::RDS::DBCluster')[0]![1]).Properties.BackupRetentionPeriod;
    };

    expect(retention({})).toBe(7);
    expect(retention({ stage: 'prod', aurora: { minCapacity: 0.5, maxCapacity: 4, backupRetentionDays: 35 } })).toBe(35);
    expect(retention({ aurora: { minCapacity: 0.5, maxCapacity: 4, backupRetentionDays: 1 } })).toBe(1);
    expect(() => parseConfig({ aurora: { backupRetentionDays: 0 } })).toThrow(/aurora\.backupRetentionDays/);
    expect(() => parseConfig({ aurora: { backupRetentionDays: 36 } })).toThrow(/aurora\.backupRetentionDays/);
    expect(() => parseConfig({ aurora: { backupRetentionDays: 7.5 } })).toThrow(/aurora\.backupRetentionDays/);
  });

  it('upgrades the Aurora minor version only through aurora.engineVersion, to a version aws-cdk-lib knows', () => {
    const { app, stacks } = synthXp({ aurora: { minCapacity: 0, maxCapacity: 4, engineVersion: '16.8' } }, { nag: false });
    app.synth();
    const data = templates(stacks).data;

    expect(resources(data, 'AWS::RDS::DBCluster')[0]![1].Properties.EngineVersion).toBe('16.8');
    expect(resources(data, 'AWS::RDS::DBClusterParameterGroup')[0]![1].Properties.Family).toBe('aurora-postgresql16');
    expect(resources(data, 'AWS::RDS::DBInstance').every(([, r]) => r.Properties.AutoMinorVersionUpgrade === false)).toBe(true);
    expect(AURORA_POSTGRES_16_VERSIONS).toEqual(expect.arrayContaining(['16.6', '16.8']));
    expect(parseConfig({}).aurora.engineVersion).toBe('16.6');
    expect(() => parseConfig({ aurora: { engineVersion: '17.4' } })).toThrow(/aurora\.engineVersion: an Aurora PostgreSQL 16 version/);
    expect(() => parseConfig({ aurora: { engineVersion: '16' } })).toThrow(/aurora\.engineVersion/);
  });

  it('serves the console on consoleDomain with its us-east-1 certificate and TLSv1.2_2021, without the TLS suppression', () => {
    const certificateArn = 'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666';
    const { app, stacks } = synthXp({ stage: 'prod', adminEmail: 'owner@example.com', consoleDomain: { name: 'console.example.com', certificateArn } });
    app.synth();
    const console = templates(stacks).console;
    const [[, distribution]] = resources(console, 'AWS::CloudFront::Distribution') as [[string, Resource]];

    expect(distribution.Properties.DistributionConfig).toMatchObject({
      Aliases: ['console.example.com'],
      ViewerCertificate: { AcmCertificateArn: certificateArn, MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' },
    });
    expect(console.findOutputs('ConsoleUrl')).toEqual({ ConsoleUrl: expect.objectContaining({ Value: 'https://console.example.com' }) });
    expect(Object.keys(console.findOutputs('ConsoleDomainTarget'))).toEqual(['ConsoleDomainTarget']);
    expect(JSON.stringify(console.toJSON())).not.toContain('AwsSolutions-CFR4');
    expect(nagFindings(stacks)).toEqual([]);
    expect(() => parseConfig({ consoleDomain: { name: 'console.example.com', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/x' } })).toThrow(/consoleDomain\.certificateArn: an ACM certificate ARN in us-east-1/);
  }, 120_000);

  it('sets permissionsBoundary on every IAM role of every stack, CDK\'s own custom-resource roles included', () => {
    const { app, stacks } = synthXp({ permissionsBoundary: 'cdk-hnb659fds-permissions-boundary-123456789012-eu-west-1' }, { nag: false });
    app.synth();
    const roles = all(templates(stacks), 'AWS::IAM::Role');
    const boundary = JSON.stringify(roles.map((r) => r.Properties.PermissionsBoundary));

    expect(roles.length).toBeGreaterThan(10);
    expect(roles.filter((r) => !JSON.stringify(r.Properties.PermissionsBoundary ?? null).includes(':policy/cdk-hnb659fds-permissions-boundary-123456789012-eu-west-1'))).toEqual([]);
    expect(boundary).not.toContain('null');
    expect(() => parseConfig({ permissionsBoundary: 'arn:aws:iam::1:policy/x' })).toThrow(/permissionsBoundary/);
  });

  it("holds the pool's default database connect timeout (20 s) to at most half a function's timeout too", () => {
    const stack = new Stack(new App(), 'T', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'p', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const fn = (id: string, seconds: number): XpFunction => new XpFunction(stack, id, { entry: FunctionEntry.GuardrailCheck, stage: 'dev', vpc: vpc as ec2.IVpc, code: stubCode, timeout: Duration.seconds(seconds) });
    const database = { secret: { secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x' }, securityGroupId: 'sg-1', port: 5432 };

    expect(() => fn('Short', 30).bindDatabase(database)).toThrow(/the pool's default database connect timeout \(20000 ms\) must be at most half/);
    expect(() => fn('Long', 40).bindDatabase(database)).not.toThrow();
  });
});

describe('docs/deploy.md and docs/operations.md after the review', () => {
  it('says what the code enforces about the database connect timeout (at most half), not "a third"', () => {
    const text = deployMd.replace(/\s+/g, ' ');

    expect(text).not.toContain('at most a third');
    expect(text).toContain("the pool's 20 s connect timeout, at most half of theirs");
  });

  it('has a smoke test that an alarm reaches the topic after a deploy', () => {
    const text = deployMd.replace(/\s+/g, ' ');

    expect(text).toMatch(/aws cloudwatch set-alarm-state --alarm-name xp-<stage>-DlqDepth --state-value ALARM/);
    expect(text).toContain('aws cloudwatch describe-alarm-history');
  });

  it("documents the aggregator's shard ceiling and how to raise it", () => {
    const text = deployMd.replace(/\s+/g, ' ');

    expect(text).toMatch(/at most `reservedConcurrency\.aggregator` shards/);
    expect(text).toContain('OpenShardCount');
  });

  it('documents a cluster snapshot before a deploy that adds migrations, and the backup retention', () => {
    expect(deployMd).toContain('aws rds create-db-cluster-snapshot');
    expect(operationsMd).toContain('aws rds create-db-cluster-snapshot');
    expect(operationsMd).not.toContain('Aurora keeps 7 days of automated backups');
  });

  it('rotates the application password without a window in which cold starts use a password the database refuses', () => {
    const rotation = deployMd.slice(deployMd.indexOf('Database credential rotation'));

    const steps = ['put-secret-value --secret-id $SECRET --secret-string "$NEW" --version-stages AWSPENDING', 'update-secret-version-stage --secret-id $SECRET --version-stage AWSCURRENT --move-to-version-id $VERSION', '&& aws lambda invoke --function-name "$MIGRATE"'];

    // Staged first (nothing reads AWSPENDING), then made current and applied in one command line.
    expect(steps.map((step) => rotation.indexOf(step))).toEqual([...steps.map((step) => rotation.indexOf(step))].sort((a, b) => a - b));
    expect(steps.every((step) => rotation.includes(step))).toBe(true);
    expect(rotation).toContain('--move-to-version-id $OLD --remove-from-version-id $VERSION');
    expect(rotation).not.toContain('give\n  `xp/<stage>/database-app` a new value, run the migrations function once');
  });

  it('trusts one role per stage, for exactly that GitHub environment, and bootstraps without AdministratorAccess', () => {
    const cd = section('## Continuous deployment');

    expect(cd).not.toContain('environment:*');
    expect(cd).not.toContain('holds no broad rights');
    expect(cd).toContain('"token.actions.githubusercontent.com:sub": "repo:OWNER/REPO:environment:prod"');
    expect(cd).toContain('--cloudformation-execution-policies');
    expect(cd).toMatch(/--custom-permissions-boundary|--example-permissions-boundary/);
    expect(cd).toMatch(/required reviewers/i);
    expect(cd).toMatch(/Deployment branches and tags[^\n]*only `main`/);
  });
});
