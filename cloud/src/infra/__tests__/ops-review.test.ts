/**
 * What the operations review asked of the templates: reserved concurrency and database wait limits
 * below the functions' timeouts, database, throttle and recovery alarms with stage-prefixed names,
 * an Aurora reader and TLS enforced by the server, and log groups that follow the removal policy.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EnvVar, withDeadline } from '../../functions/runtime.js';
import { DatabaseError, isUnavailableError } from '../../store/database.js';
import type { Database } from '../../store/database.js';
import { RESERVED_CONCURRENCY_DEFAULTS, parseConfig } from '../config.js';
import { DATABASE_CONNECT_TIMEOUT } from '../evaluation-stack.js';
import { THRESHOLDS, databaseMaxConnections } from '../observability-stack.js';
import { FunctionEntry } from '../bundling.js';
import { XpFunction } from '../xp-function.js';
import { nagFindings, stubCode, synthXp, templates } from './synth-helpers.js';
import type { Templates } from './synth-helpers.js';

type Resource = { Properties: Record<string, any>; DeletionPolicy?: string };
const resources = (t: Template, type: string): [string, Resource][] => Object.entries(t.findResources(type)) as [string, Resource][];
const all = (t: Templates, type: string): Resource[] => Object.values(t).flatMap((tpl) => resources(tpl, type).map(([, r]) => r));
const fnByDescription = (t: Templates, prefix: string): Resource => all(t, 'AWS::Lambda::Function').find((f) => String(f.Properties.Description).startsWith(prefix))!;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

describe('a production stage (defaults), cdk-nag on', () => {
  let t: Templates;
  let findings: string[];
  let zones: string[];

  beforeAll(() => {
    const { app, stacks } = synthXp({ stage: 'prod', adminEmail: 'owner@example.com' });
    app.synth();
    t = templates(stacks);
    zones = stacks.network.vpc.availabilityZones;
    findings = nagFindings(stacks);
  }, 120_000);

  it('has no unsuppressed cdk-nag finding', () => {
    expect(findings).toEqual([]);
  });

  it('reserves concurrency for the SDK, API and aggregator functions by default', () => {
    expect(fnByDescription(t, 'xp SDK endpoints').Properties.ReservedConcurrentExecutions).toBe(RESERVED_CONCURRENCY_DEFAULTS.sdk);
    expect(fnByDescription(t, 'xp management API').Properties.ReservedConcurrentExecutions).toBe(RESERVED_CONCURRENCY_DEFAULTS.api);
    expect(fnByDescription(t, 'xp aggregator').Properties.ReservedConcurrentExecutions).toBe(RESERVED_CONCURRENCY_DEFAULTS.aggregator);
    expect(RESERVED_CONCURRENCY_DEFAULTS).toEqual({ sdk: 200, api: 50, aggregator: 20 });
  });

  it('makes every function that uses the database give up waiting for it well before its own timeout', () => {
    const evaluation = fnByDescription(t, 'xp SDK endpoints').Properties;
    const api = fnByDescription(t, 'xp management API').Properties;
    const usesDatabase = all(t, 'AWS::Lambda::Function').filter((f) => f.Properties.Environment?.Variables?.[EnvVar.DbSecretArn] !== undefined);

    expect(evaluation.Timeout).toBe(10);
    expect(evaluation.Environment.Variables[EnvVar.DbConnectTimeoutMs]).toBe('4000');
    expect(api.Timeout).toBe(29);
    expect(api.Environment.Variables[EnvVar.DbConnectTimeoutMs]).toBe('10000');
    expect(usesDatabase).toHaveLength(8);
    for (const f of usesDatabase) {
      // Unset, the pool's 20 s connect timeout applies (cloud/src/store/db.ts).
      const waitMs = Number(f.Properties.Environment.Variables[EnvVar.DbConnectTimeoutMs] ?? 20_000);
      expect({ function: f.Properties.Description, twiceTheWait: waitMs * 2 <= f.Properties.Timeout * 1000 }).toEqual({ function: f.Properties.Description, twiceTheWait: true });
    }
  });

  it('names every alarm after the stage, and sends its recovery (OK) to the same topic as its alarm', () => {
    const alarms = resources(t.observability, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
    const names = alarms.map((a) => a.AlarmName as string);

    expect(alarms.length).toBeGreaterThanOrEqual(35);
    expect(names.every((n) => typeof n === 'string' && n.startsWith('xp-prod-'))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    for (const a of alarms) {
      expect(a.AlarmActions).toHaveLength(1);
      expect(a.OKActions).toEqual(a.AlarmActions);
    }
  });

  it('alarms on Aurora capacity near its maximum, connections, CPU and freeable memory', () => {
    const byName = (name: string): Record<string, any> => resources(t.observability, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties).find((a) => a.AlarmName === `xp-prod-${name}`)!;
    const cluster = { Name: 'DBClusterIdentifier', Value: { 'Fn::ImportValue': expect.any(String) } };
    const clusterDimension = (a: Record<string, any>): unknown => a.Dimensions;

    expect(byName('DatabaseCapacity')).toMatchObject({ Namespace: 'AWS/RDS', MetricName: 'ServerlessDatabaseCapacity', Statistic: 'Maximum', Threshold: 3.6, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 3 });
    expect(databaseMaxConnections(4)).toBe(901);
    expect(byName('DatabaseConnections')).toMatchObject({ MetricName: 'DatabaseConnections', Threshold: 720, ComparisonOperator: 'GreaterThanThreshold' });
    expect(byName('DatabaseCpu')).toMatchObject({ MetricName: 'CPUUtilization', Threshold: THRESHOLDS.databaseCpuPercent });
    expect(byName('DatabaseFreeableMemory')).toMatchObject({ MetricName: 'FreeableMemory', Statistic: 'Minimum', Threshold: Math.floor(4 * 2 * 1024 ** 3 * 0.1), ComparisonOperator: 'LessThanThreshold' });
    for (const name of ['DatabaseCapacity', 'DatabaseConnections', 'DatabaseCpu', 'DatabaseFreeableMemory']) {
      expect(clusterDimension(byName(name))).toEqual([cluster]);
    }
  });

  it('alarms on throttles: every function, the event stream\'s writes, the rulesets table', () => {
    const alarms = resources(t.observability, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
    const throttles = alarms.filter((a) => a.MetricName === 'Throttles');
    const functions = all(t, 'AWS::Lambda::Function').filter((f) => String(f.Properties.Description).startsWith('xp ') && !String(f.Properties.Description).startsWith('xp database migrations'));

    expect(throttles.map((a) => a.AlarmName).sort()).toEqual(
      ['aggregator', 'alarm-rollback', 'api', 'evaluation', 'guardrail-check', 'log-forwarder', 'migrate', 'migrate-early', 'webhook-dispatch', 'webhook-sender'].map((n) => `xp-prod-Throttles-${n}`).sort(),
    );
    expect(throttles.every((a) => a.Namespace === 'AWS/Lambda' && a.Statistic === 'Sum' && a.Threshold === THRESHOLDS.functionThrottles)).toBe(true);
    expect(functions.length).toBe(8);
    expect(alarms.find((a) => a.MetricName === 'WriteProvisionedThroughputExceeded')).toMatchObject({ Namespace: 'AWS/Kinesis', Statistic: 'Sum', EvaluationPeriods: 2 });
    expect(alarms.find((a) => a.MetricName === 'PutRecords.ThrottledRecords')).toMatchObject({ Namespace: 'AWS/Kinesis', Statistic: 'Sum', EvaluationPeriods: 2 });
    const table = alarms.find((a) => a.AlarmName === 'xp-prod-RulesetTableThrottles')!;
    const metrics = JSON.stringify(table.Metrics);
    for (const operation of ['GetItem', 'Query', 'PutItem', 'BatchWriteItem']) {
      expect(metrics).toContain(`"Value":"${operation}"`);
    }
    expect(metrics).toContain('"MetricName":"ThrottledRequests"');
  });

  it('runs a Serverless v2 reader that scales with the writer (promotion tier 1) in the second zone', () => {
    const instances = resources(t.data, 'AWS::RDS::DBInstance').map(([, r]) => r.Properties);
    const reader = instances.find((i) => i.PromotionTier === 1);

    expect(instances).toHaveLength(2);
    expect(instances.every((i) => i.DBInstanceClass === 'db.serverless' && i.PubliclyAccessible === false)).toBe(true);
    expect(zones).toHaveLength(2);
    expect(reader?.AvailabilityZone).toBe(zones[1]);
    expect(instances.find((i) => i !== reader)?.AvailabilityZone).toBeUndefined();
  });

  it('has the cluster require TLS (rds.force_ssl) through its own parameter group', () => {
    const [[groupId, group]] = resources(t.data, 'AWS::RDS::DBClusterParameterGroup') as [[string, Resource]];
    const [[, cluster]] = resources(t.data, 'AWS::RDS::DBCluster') as [[string, Resource]];

    expect(group.Properties).toMatchObject({ Family: 'aurora-postgresql16', Parameters: { 'rds.force_ssl': '1' } });
    expect(cluster.Properties.DBClusterParameterGroupName).toEqual({ Ref: groupId });
  });

  it('keeps every function\'s log group when the stage is retained, like its data; the named platform groups go with their stacks', () => {
    const groups = all(t, 'AWS::Logs::LogGroup');
    const unnamed = groups.filter((g) => g.Properties.LogGroupName === undefined);
    const platform = groups.filter((g) => typeof g.Properties.LogGroupName === 'string' && g.Properties.LogGroupName.startsWith('/experimentation-platform/'));

    expect(unnamed.length).toBeGreaterThanOrEqual(10);
    expect(unnamed.map((g) => g.DeletionPolicy)).toEqual(unnamed.map(() => 'Retain'));
    expect(platform.map((g) => g.DeletionPolicy).sort()).toEqual(['Delete', 'Delete', 'Delete']);
  });
});

describe('configured', () => {
  it('takes reserved concurrency per group, null leaving a group unreserved', () => {
    const { app, stacks } = synthXp({ reservedConcurrency: { sdk: 500, api: null, aggregator: 40 }, evaluationProvisionedConcurrency: 5 }, { nag: false });
    app.synth();
    const t = templates(stacks);

    expect(fnByDescription(t, 'xp SDK endpoints').Properties.ReservedConcurrentExecutions).toBe(500);
    expect(fnByDescription(t, 'xp management API').Properties.ReservedConcurrentExecutions).toBeUndefined();
    expect(fnByDescription(t, 'xp aggregator').Properties.ReservedConcurrentExecutions).toBe(40);
  });

  it('validates reserved concurrency: whole numbers from 1, and at least the provisioned concurrency', () => {
    expect(() => parseConfig({ reservedConcurrency: { sdk: 0 } })).toThrow(/reservedConcurrency\.sdk/);
    expect(() => parseConfig({ reservedConcurrency: { api: 2.5 } })).toThrow(/reservedConcurrency\.api/);
    expect(() => parseConfig({ reservedConcurrency: { lambdas: 3 } })).toThrow(/reservedConcurrency/);
    expect(() => parseConfig({ evaluationProvisionedConcurrency: 300 })).toThrow(/evaluationProvisionedConcurrency: must not exceed reservedConcurrency\.sdk/);
    expect(parseConfig({ evaluationProvisionedConcurrency: 300, reservedConcurrency: { sdk: null } }).reservedConcurrency).toEqual({ sdk: null, api: 50, aggregator: 20 });
  });

  it('runs no reader on dev unless asked, and none on another stage when told not to', () => {
    const instances = (input: Parameters<typeof synthXp>[0]): number => {
      const { app, stacks } = synthXp(input, { nag: false });
      app.synth();
      return resources(templates(stacks).data, 'AWS::RDS::DBInstance').length;
    };

    expect(instances({})).toBe(1);
    expect(instances({ aurora: { minCapacity: 0.5, maxCapacity: 4, reader: true } })).toBe(2);
    expect(instances({ stage: 'prod', aurora: { minCapacity: 0.5, maxCapacity: 8, reader: false } })).toBe(1);
  });

  it('deletes function log groups with a throwaway stage, and empties its event-archive buckets as docs/deploy.md says', () => {
    const { app, stacks } = synthXp({ stage: 'preview', removalPolicy: 'destroy' }, { nag: false });
    app.synth();
    const t = templates(stacks);
    const deployDoc = readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8').replace(/\s+/g, ' ');

    expect(all(t, 'AWS::Logs::LogGroup').filter((g) => g.Properties.LogGroupName === undefined).every((g) => g.DeletionPolicy === 'Delete')).toBe(true);
    // Custom::S3AutoDeleteObjects on the archive bucket and its access-log bucket, none on the console's.
    expect(resources(t.pipeline, 'Custom::S3AutoDeleteObjects')).toHaveLength(2);
    expect(resources(t.console, 'Custom::S3AutoDeleteObjects')).toHaveLength(0);
    expect(deployDoc).toContain('empties and deletes the event-archive bucket and its access-log bucket');
    expect(deployDoc).not.toContain('removes everything except non-empty buckets');
  });

  it('refuses a database connect timeout that is not well below the function\'s timeout', () => {
    const stack = new Stack(new App(), 'T', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'p', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const fn = new XpFunction(stack, 'Fn', { entry: FunctionEntry.Evaluation, stage: 'dev', vpc: vpc as ec2.IVpc, code: stubCode, timeout: Duration.seconds(10) });
    const database = { secret: { secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x' }, securityGroupId: 'sg-1', port: 5432 };

    expect(() => fn.bindDatabase(database, { connectTimeout: Duration.seconds(6) })).toThrow(/at most half the function's timeout/);
    expect(DATABASE_CONNECT_TIMEOUT.evaluation.toSeconds()).toBe(4);
  });
});

describe('withDeadline (XP_DB_CONNECT_TIMEOUT_MS in the Lambda functions)', () => {
  const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
  const noRows = (): Promise<{ rows: never[]; rowCount: number }> => Promise.resolve({ rows: [], rowCount: 0 });
  const fake = (over: Partial<Database>): Database => ({ kind: 'pg', query: () => never(), withTransaction: () => never(), close: () => Promise.resolve(), ...over });

  it('fails a statement the database does not answer in time as unavailable (a 503 with Retry-After), not after the function timed out', async () => {
    const db = withDeadline(fake({}), 50);
    const started = Date.now();
    const error: unknown = await db.query('SELECT 1').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).code).toBe('08001');
    expect(isUnavailableError(error)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('bounds a transaction until BEGIN answered; one connected too late runs nothing; one begun in time runs to its end', async () => {
    // The pool hands the connection over only after the deadline: the callback is kept and called late.
    let late: ((tx: { query: Database['query'] }) => Promise<unknown>) | undefined;
    const slowConnect = withDeadline(fake({
      withTransaction: (fn) => {
        late = fn;
        return never();
      },
    }), 30);
    let ran = false;
    const error: unknown = await slowConnect.withTransaction(() => {
      ran = true;
      return Promise.resolve();
    }).catch((e: unknown) => e);
    const lateRun: unknown = await late!({ query: noRows }).catch((e: unknown) => e);

    expect(isUnavailableError(error)).toBe(true);
    expect(ran).toBe(false);
    expect(lateRun).toBeInstanceOf(DatabaseError);

    const connected = withDeadline(fake({ withTransaction: (fn) => fn({ query: noRows }) }), 20);
    const result = await connected.withTransaction(async () => {
      await new Promise((resolve) => setTimeout(resolve, 60));
      return 'committed';
    });
    expect(result).toBe('committed');
  });

  it('passes a connection failure through as it is, before the deadline', async () => {
    const refused = new DatabaseError('ECONNREFUSED', 'connect ECONNREFUSED');
    const db = withDeadline(fake({ withTransaction: () => Promise.reject(refused), query: () => Promise.reject(refused) }), 10_000);

    await expect(db.withTransaction(() => Promise.resolve(1))).rejects.toBe(refused);
    await expect(db.query('SELECT 1')).rejects.toBe(refused);
    expect(() => withDeadline(fake({}), Number('x'))).toThrow(EnvVar.DbConnectTimeoutMs);
  });
});
