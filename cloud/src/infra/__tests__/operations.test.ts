import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { XpStacks } from '../app.js';
import { ARCHIVE_BUFFERING, ARCHIVE_PREFIX } from '../event-archive.js';
import { SHARED_CACHE_PORT } from '../shared-cache.js';
import { nagFindings, synthXp, templates } from './synth-helpers.js';
import type { Templates } from './synth-helpers.js';

type Resource = { Properties: Record<string, any> };
const resources = (t: Template, type: string): Resource[] => Object.values(t.findResources(type)) as Resource[];

describe('operations infrastructure (issue 10), cdk-nag AwsSolutions applied', () => {
  describe('default configuration', () => {
    let stacks: XpStacks;
    let t: Templates;

    beforeAll(() => {
      const built = synthXp();
      built.app.synth();
      stacks = built.stacks;
      t = templates(stacks);
    }, 120_000);

    it('archives the event stream with Firehose: GZIP, newline-delimited, partitioned by hour, to an encrypted private bucket', () => {
      const [delivery] = resources(t.pipeline, 'AWS::KinesisFirehose::DeliveryStream');
      const s3 = delivery!.Properties.ExtendedS3DestinationConfiguration;

      expect(delivery!.Properties).toMatchObject({ DeliveryStreamType: 'KinesisStreamAsSource', KinesisStreamSourceConfiguration: { KinesisStreamARN: expect.anything() } });
      expect(s3).toMatchObject({
        CompressionFormat: 'GZIP',
        Prefix: ARCHIVE_PREFIX,
        ErrorOutputPrefix: expect.stringMatching(/^archive\/errors\//),
        BufferingHints: { IntervalInSeconds: ARCHIVE_BUFFERING.intervalSeconds, SizeInMBs: ARCHIVE_BUFFERING.sizeMb },
        ProcessingConfiguration: { Enabled: true, Processors: [{ Type: 'AppendDelimiterToRecord' }] },
        CloudWatchLoggingOptions: { Enabled: true },
      });
      expect(ARCHIVE_PREFIX).toBe('archive/events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/');
      const buckets = resources(t.pipeline, 'AWS::S3::Bucket');
      const archive = buckets.find((b) => b.Properties.LifecycleConfiguration?.Rules?.[0]?.Id === 'archive-tiering-and-expiry');
      expect(archive?.Properties).toMatchObject({
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        LoggingConfiguration: { DestinationBucketName: expect.anything() },
        LifecycleConfiguration: { Rules: [{ Status: 'Enabled', ExpirationInDays: 365, Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }] }, { Status: 'Enabled', ExpiredObjectDeleteMarker: true }] },
      });
      expect(Object.keys(t.pipeline.findResources('AWS::S3::Bucket', { DeletionPolicy: 'Retain' }))).toHaveLength(2);
    });

    it('gives the delivery role read on the one stream and writes under archive/ in the one bucket', () => {
      const statements = resources(t.pipeline, 'AWS::IAM::Policy')
        .filter((p) => JSON.stringify(p.Properties.Roles).includes('EventArchiveRole'))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string[]; Resource: unknown }[]);

      expect(statements.flatMap((s) => s.Action).sort()).toEqual(
        ['kinesis:DescribeStream', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards', 'logs:PutLogEvents', 's3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:GetObject', 's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:PutObject'].sort(),
      );
      expect(JSON.stringify(statements)).not.toContain('"*"');
      expect(JSON.stringify(statements)).toContain('/archive/*');
    });

    it('creates the platform log groups with retention, errors kept 30 days', () => {
      const named = (t2: Template, name: string): Resource[] => resources(t2, 'AWS::Logs::LogGroup').filter((g) => g.Properties.LogGroupName === name);

      expect(named(t.api, '/experimentation-platform/api')[0]?.Properties.RetentionInDays).toBe(30);
      expect(named(t.observability, '/experimentation-platform/services')[0]?.Properties.RetentionInDays).toBe(30);
      expect(named(t.observability, '/experimentation-platform/errors')[0]?.Properties.RetentionInDays).toBe(30);
    });

    it('feeds errors of every function and lines of the background services to those groups through the forwarder', () => {
      const filters = resources(t.observability, 'AWS::Logs::SubscriptionFilter');
      const byName = new Map(filters.map((f) => [f.Properties.FilterName as string, f.Properties]));
      const forwarder = Object.entries(t.observability.findResources('AWS::Lambda::Function')).find(([, r]) => String((r as Resource).Properties.Description).startsWith('xp log forwarder'));

      expect([...byName.keys()].sort()).toEqual(
        [
          'xp-errors-aggregator',
          'xp-errors-alarm-rollback',
          'xp-errors-api',
          'xp-errors-evaluation',
          'xp-errors-guardrail-check',
          'xp-errors-migrate',
          'xp-errors-migrate-early',
          'xp-errors-webhook-dispatch',
          'xp-errors-webhook-sender',
          'xp-services-aggregator',
          'xp-services-alarm-rollback',
          'xp-services-guardrail-check',
          'xp-services-migrate',
          'xp-services-migrate-early',
          'xp-services-webhook-dispatch',
        ],
      );
      expect(byName.get('xp-errors-api')!.FilterPattern).toBe('{ $.level = "error" }');
      expect(byName.get('xp-services-aggregator')!.FilterPattern).toBe('');
      expect(forwarder).toBeDefined();
      for (const f of filters) {
        expect(f.Properties.DestinationArn).toEqual({ 'Fn::GetAtt': [forwarder![0], 'Arn'] });
      }
      const routes = JSON.parse((forwarder![1] as Resource).Properties.Environment.Variables.XP_LOG_ROUTES);
      expect(routes).toEqual({ errors: '/experimentation-platform/errors', services: '/experimentation-platform/services' });
      // The forwarder may only write into the two groups: no wildcard action or resource.
      const policies = resources(t.observability, 'AWS::IAM::Policy').filter((p) => JSON.stringify(p.Properties).includes('logs:PutLogEvents'));
      const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string[] | string; Resource: unknown }[]);
      const forwarding = statements.find((s) => JSON.stringify(s.Action) === JSON.stringify(['logs:CreateLogStream', 'logs:PutLogEvents']) && Array.isArray(s.Resource) && s.Resource.length === 2);
      expect(forwarding).toBeDefined();
      expect(JSON.stringify(forwarding!.Resource)).not.toContain('*');
    });

    it('creates no cache unless asked, and no function gets REDIS_URL', () => {
      expect(resources(t.data, 'AWS::ElastiCache::ServerlessCache')).toEqual([]);
      expect(JSON.stringify([t.api.toJSON(), t.evaluation.toJSON()])).not.toContain('REDIS_URL');
    });

    it('has no unsuppressed cdk-nag finding', () => {
      expect(nagFindings(stacks)).toEqual([]);
    });
  });

  describe('with sharedCache, a longer log retention and another log group prefix', () => {
    let stacks: XpStacks;
    let t: Templates;

    beforeAll(() => {
      const built = synthXp({ stage: 'prod', sharedCache: { engine: 'valkey' }, logRetentionDays: 90, logGroupPrefix: '/experimentation-platform/prod', archiveRetentionDays: 730 });
      built.app.synth();
      stacks = built.stacks;
      t = templates(stacks);
    }, 120_000);

    it('creates an ElastiCache Serverless cache in the private subnets behind its own security group', () => {
      const [cache] = resources(t.data, 'AWS::ElastiCache::ServerlessCache');
      const cacheGroups = resources(t.data, 'AWS::EC2::SecurityGroup').filter((g) => String(g.Properties.GroupDescription).includes('shared cache'));

      expect(cache!.Properties).toMatchObject({ Engine: 'valkey', ServerlessCacheName: 'xp-prod', CacheUsageLimits: { DataStorage: { Maximum: 1, Unit: 'GB' }, ECPUPerSecond: { Maximum: 5000 } } });
      expect(cache!.Properties.SubnetIds).toHaveLength(2);
      expect(cacheGroups).toHaveLength(1);
      expect(cacheGroups[0]!.Properties.SecurityGroupIngress).toBeUndefined();
      expect(cacheGroups[0]!.Properties.SecurityGroupEgress).toEqual([expect.objectContaining({ CidrIp: '255.255.255.255/32' })]);
    });

    it('lets only the evaluation and API functions in, on the cache port, and gives them a TLS REDIS_URL', () => {
      const ingress = [...resources(t.evaluation, 'AWS::EC2::SecurityGroupIngress'), ...resources(t.api, 'AWS::EC2::SecurityGroupIngress')].filter((r) => r.Properties.FromPort === SHARED_CACHE_PORT);
      const allIngress = Object.values(t).flatMap((tpl) => resources(tpl, 'AWS::EC2::SecurityGroupIngress')).filter((r) => r.Properties.FromPort === SHARED_CACHE_PORT);
      const env = (tpl: Template): unknown[] => resources(tpl, 'AWS::Lambda::Function').map((f) => f.Properties.Environment?.Variables?.REDIS_URL).filter((v) => v !== undefined);

      expect(ingress).toHaveLength(2);
      expect(allIngress).toHaveLength(2);
      expect(ingress.every((r) => r.Properties.SourceSecurityGroupId !== undefined && r.Properties.CidrIp === undefined && r.Properties.ToPort === SHARED_CACHE_PORT)).toBe(true);
      expect(env(t.evaluation)).toHaveLength(1);
      expect(env(t.api)).toHaveLength(1);
      expect(JSON.stringify(env(t.evaluation))).toContain('rediss://');
      expect(env(t.pipeline)).toEqual([]);
    });

    it('applies the configured retentions and prefix, errors still 30 days', () => {
      const groups = Object.values(t).flatMap((tpl) => resources(tpl, 'AWS::Logs::LogGroup'));
      const byName = new Map(groups.filter((g) => typeof g.Properties.LogGroupName === 'string').map((g) => [g.Properties.LogGroupName as string, g.Properties.RetentionInDays as number]));

      expect(byName.get('/experimentation-platform/prod/api')).toBe(90);
      expect(byName.get('/experimentation-platform/prod/services')).toBe(90);
      expect(byName.get('/experimentation-platform/prod/errors')).toBe(30);
      expect(JSON.stringify(t.pipeline.toJSON())).toContain('"ExpirationInDays":730');
    });

    it('has no unsuppressed cdk-nag finding', () => {
      expect(nagFindings(stacks)).toEqual([]);
    });
  });
});
