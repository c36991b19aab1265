import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as logsDestinations from 'aws-cdk-lib/aws-logs-destinations';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LOG_ROUTES_VARIABLE, subscriptionFilterName } from '../functions/log-routes.js';
import { METRICS_NAMESPACE, METRIC_SERVICE, MetricName } from '../functions/metrics.js';
import type { ApiStack } from './api-stack.js';
import { FunctionEntry } from './bundling.js';
import { logRetention } from './config.js';
import type { GuardrailConfig, XpConfig } from './config.js';
import type { DataStack } from './data-stack.js';
import type { EvaluationStack } from './evaluation-stack.js';
import { FlagGuardrail } from './flag-guardrail.js';
import type { PipelineStack } from './pipeline-stack.js';
import { XpFunction } from './xp-function.js';
import type { CodeFactory } from './xp-function.js';

export interface ObservabilityStackProps extends StackProps {
  readonly config: XpConfig;
  readonly vpc: ec2.IVpc;
  readonly data: DataStack;
  readonly api: ApiStack;
  readonly evaluation: EvaluationStack;
  readonly pipeline: PipelineStack;
  readonly code?: CodeFactory;
}

/** Alarm thresholds, exported so tests assert what the stack uses. */
export const THRESHOLDS = {
  /** Per cent of invocations that errored, over 5 minutes. */
  errorRatePercent: 2,
  /** Age of the oldest unprocessed record, ms. */
  iteratorAgeMs: 5 * 60_000,
  /** Messages in the pipeline's on-failure queue. */
  dlqDepth: 1,
  /** Records dead-lettered by the aggregator within 5 minutes. */
  deadLetters: 1,
  /** Exposures the evaluation function lost for good within 5 minutes (the event stream refused them and the retry buffer could not keep them). */
  exposuresDropped: 1,
  /** p99 of the management API (API Gateway latency), ms. */
  apiP99Ms: 2_000,
  /** p99 of SDK requests inside the evaluation function, ms. */
  evaluationP99Ms: 100,
  /** Per cent of HTTP API responses that were 5xx, over 5 minutes (two periods in a row). */
  api5xxPercent: 5,
  /** Age of the oldest record Firehose has not yet written to the archive bucket, seconds (it buffers up to 300 s). */
  archiveFreshnessSeconds: 900,
  /** Guardrail rollbacks that failed for good (messages in the rollback dead-letter queue). */
  rollbackDlqDepth: 1,
  /** Aurora capacity, per cent of maxCapacity, for 15 minutes: the database is about to run out of room to scale. */
  databaseCapacityPercent: 90,
  /** Aurora connections, per cent of the cluster's max_connections at maxCapacity (databaseMaxConnections), for 15 minutes. */
  databaseConnectionsPercent: 80,
  /** Aurora CPU, per cent, for 15 minutes. */
  databaseCpuPercent: 80,
  /** Aurora freeable memory (Serverless v2: what is left at maxCapacity), per cent of maxCapacity's memory, for 15 minutes. */
  databaseFreeableMemoryPercent: 10,
  /** Throttled invocations of one function within 5 minutes (reserved or account concurrency used up). */
  functionThrottles: 5,
  /** Throttled Kinesis writes (PutRecords records, or requests over the stream's throughput) in each of two 5-minute periods. */
  streamWriteThrottles: 1,
  /** Throttled requests on the rulesets table within 5 minutes. */
  tableThrottles: 1,
} as const;

/** Memory of one Aurora capacity unit, bytes. */
const ACU_BYTES = 2 * 1024 ** 3;

/**
 * Aurora PostgreSQL's max_connections for a Serverless v2 cluster: LEAST(DBInstanceClassMemory/9531392,
 * 5000), where the memory is that of maxCapacity (e.g. 901 at 4 ACU).
 */
export function databaseMaxConnections(maxCapacity: number): number {
  return Math.min(5000, Math.floor((maxCapacity * ACU_BYTES) / 9_531_392));
}

/** Every alarm's name: the stage's prefix, then the alarm. */
export const alarmName = (stage: string, name: string): string => `xp-${stage}-${name}`;

/** Async invocations of the alarm-rollback function: Lambda's most retries, and the longest an event may wait. */
export const ROLLBACK_ASYNC = { retryAttempts: 2, maxEventAgeHours: 6 } as const;

const FIVE_MINUTES = Duration.minutes(5);

/** Statistics of the API performance dashboard's per-route latency graphs. */
export const API_ROUTE_LATENCY_STATISTICS = ['p50', 'p90', 'p99'] as const;

/**
 * Every route's latency of one HTTP API. Its detailed (per-route) metrics carry the dimensions
 * ApiId, Method, Resource and Stage (there is no `Route` dimension), so a search finds each route
 * without spelling out how API Gateway names `$default` and the proxy routes.
 */
export function apiRouteLatencySearch(apiId: string, statistic: string): string {
  return `SEARCH('{AWS/ApiGateway,ApiId,Method,Resource,Stage} MetricName="Latency" ApiId="${apiId}"', '${statistic}', 300)`;
}

const COMPARISON: Readonly<Record<GuardrailConfig['comparison'], cloudwatch.ComparisonOperator>> = {
  GreaterThanThreshold: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  GreaterThanOrEqualToThreshold: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  LessThanThreshold: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
  LessThanOrEqualToThreshold: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
};

/**
 * The topic-policy statement that lets this account's CloudWatch alarms (and only those: source
 * account, and alarm ARNs of the stack's region and account) publish to `topic`.
 */
export function cloudWatchAlarmsMayPublish(scope: Construct, topic: sns.ITopic): iam.PolicyStatement {
  const { partition, region, account } = Stack.of(scope);
  return new iam.PolicyStatement({
    sid: 'AllowCloudWatchAlarmsToPublish',
    effect: iam.Effect.ALLOW,
    principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
    actions: ['sns:Publish'],
    resources: [topic.topicArn],
    conditions: {
      StringEquals: { 'aws:SourceAccount': account },
      ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
    },
  });
}

/** An xp EMF metric. */
export function xpMetric(name: MetricName, stage: string, statistic: string): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName: name, dimensionsMap: { Service: METRIC_SERVICE[name], Stage: stage }, statistic, period: FIVE_MINUTES });
}

/**
 * Alarms (to an encrypted SNS topic, e-mailed when configured), the two dashboards (system health;
 * API performance), and alarm-driven rollback: the guardrail topic, the function that switches
 * linked flags off, and the configured guardrail alarms.
 */
/** Days the errors log group keeps entries, whatever the general log retention. */
export const ERROR_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

export class ObservabilityStack extends Stack {
  /** `<prefix>/services` (background services) and `<prefix>/errors` (errors with their stacks, 30 days). */
  readonly serviceLogs: logs.LogGroup;
  readonly errorLogs: logs.LogGroup;
  readonly alarmTopic: sns.Topic;
  readonly guardrailTopic: sns.Topic;
  readonly rollback: XpFunction;
  /** Guardrail events the rollback function could not handle (SNS delivery or the function failed for good). */
  readonly rollbackFailures: sqs.Queue;
  /** The scheduled statistical guardrail check (every `guardrailCheckMinutes`). */
  readonly guardrailCheck: XpFunction;
  readonly logForwarder: XpFunction;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ObservabilityStackProps) {
    super(scope, id, props);
    const { config, data, api, evaluation, pipeline } = props;
    const stage = config.stage;
    this.serviceLogs = new logs.LogGroup(this, 'ServiceLogs', { logGroupName: `${config.logGroupPrefix}/services`, retention: logRetention(config), removalPolicy: RemovalPolicy.DESTROY });
    this.errorLogs = new logs.LogGroup(this, 'ErrorLogs', { logGroupName: `${config.logGroupPrefix}/errors`, retention: ERROR_LOG_RETENTION, removalPolicy: RemovalPolicy.DESTROY });

    const key = new kms.Key(this, 'TopicKey', { description: `xp ${stage}: alarm topics`, enableKeyRotation: true });
    // CloudWatch publishes alarms to the encrypted topics.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.alarmTopic = new sns.Topic(this, 'Alarms', { displayName: `xp ${stage} alarms`, masterKey: key, enforceSSL: true });
    if (config.alarmEmail !== undefined) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    }
    // For subscribers beyond the e-mail: PagerDuty, Amazon Q Developer in chat (Chatbot), an on-call tool (docs/operations.md).
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn, description: 'SNS topic every xp alarm (and its recovery) is sent to: subscribe paging or chat here' });
    this.guardrailTopic = new sns.Topic(this, 'Guardrails', { displayName: `xp ${stage} flag guardrails`, masterKey: key, enforceSSL: true });
    // enforceSSL gives each topic a policy, which replaces SNS's default one: without an explicit
    // allow, CloudWatch may not publish to them (the alarm history says "not authorized to perform:
    // SNS:Publish"), and no alarm would page anyone or roll a flag back.
    for (const topic of [this.alarmTopic, this.guardrailTopic]) {
      topic.addToResourcePolicy(cloudWatchAlarmsMayPublish(this, topic));
    }

    this.rollback = new XpFunction(this, 'AlarmRollback', {
      entry: FunctionEntry.AlarmRollback,
      stage,
      tracing: config.tracing,
      vpc: props.vpc,
      timeout: Duration.seconds(30),
      logRetention: logRetention(config),
      description: 'xp alarm-driven rollback: switches flags linked to a firing alarm off',
      ...(props.code === undefined ? {} : { code: props.code }),
    })
      // Failed attempts are retried (twice, then the dead-letter queue): fail them well before the 30 s timeout.
      .bindDatabase(data.database, { connectTimeout: Duration.seconds(10) })
      .bindTable(data.rulesets, 'readWrite');
    // A guardrail that fires during an incident may meet an unavailable database or table: a rollback
    // that fails for good is kept (and alarmed on) rather than dropped, so someone switches the flag off.
    this.rollbackFailures = new sqs.Queue(this, 'RollbackFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.guardrailTopic.addSubscription(new subscriptions.LambdaSubscription(this.rollback.function, { deadLetterQueue: this.rollbackFailures }));
    this.rollback.function.configureAsyncInvoke({
      retryAttempts: ROLLBACK_ASYNC.retryAttempts,
      maxEventAge: Duration.hours(ROLLBACK_ASYNC.maxEventAgeHours),
      onFailure: new lambdaDestinations.SqsDestination(this.rollbackFailures),
    });

    // The statistical guardrails of running experiments (sequential test on their guardrail
    // metrics): alerts, and stops where an experiment says so — every minute by default, as the local
    // stack does (the sequential test stays valid however often it looks).
    this.guardrailCheck = new XpFunction(this, 'GuardrailCheck', {
      entry: FunctionEntry.GuardrailCheck,
      stage,
      tracing: config.tracing,
      vpc: props.vpc,
      timeout: Duration.seconds(55),
      logRetention: logRetention(config),
      description: 'xp guardrail check: alerts on (and stops) experiments whose guardrail metrics degrade',
      ...(props.code === undefined ? {} : { code: props.code }),
    })
      .bindDatabase(data.database)
      .bindTable(data.rulesets, 'readWrite');
    // Every `guardrailCheckMinutes` (default 1): each run queries the database, so a stage whose Aurora
    // writer should pause (aurora.minCapacity 0) runs it less often than Aurora's 5 idle minutes.
    new events.Rule(this, 'GuardrailSchedule', {
      description: config.guardrailCheckMinutes === 1 ? 'xp guardrail check every minute' : `xp guardrail check every ${config.guardrailCheckMinutes} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(config.guardrailCheckMinutes)),
      targets: [new targets.LambdaFunction(this.guardrailCheck.function, { retryAttempts: 0 })],
    });
    for (const g of config.guardrails) {
      new FlagGuardrail(this, `Guardrail-${g.name}`, {
        project: g.project,
        flag: g.flag,
        environment: g.environment,
        metric: new cloudwatch.Metric({ namespace: g.namespace, metricName: g.metricName, dimensionsMap: g.dimensions, statistic: g.statistic, period: Duration.seconds(g.periodSeconds) }),
        threshold: g.threshold,
        comparisonOperator: COMPARISON[g.comparison],
        evaluationPeriods: g.evaluationPeriods,
        rollbackTopic: this.guardrailTopic,
        notifyTopic: this.alarmTopic,
        alarmName: alarmName(stage, `guardrail-${g.name}`),
      });
    }

    const functions = {
      api: api.api,
      evaluation: evaluation.evaluation,
      aggregator: pipeline.aggregator,
      'alarm-rollback': this.rollback,
      'guardrail-check': this.guardrailCheck,
      migrate: api.migrate,
      // The evaluation stack's migrations, which run first (the api stack's then find nothing to do).
      'migrate-early': evaluation.migrate,
      'webhook-dispatch': api.webhooks.dispatcher,
      'webhook-sender': api.webhooks.sender,
      // Only with `sso`: the API's requests to the identity provider.
      ...(api.ssoEgress === undefined ? {} : { 'sso-egress': api.ssoEgress }),
    };

    // Shared log groups: every error line (JSON level "error", stack included) of every function goes
    // to <prefix>/errors; every line of the background services to <prefix>/services. Subscription
    // filters feed the forwarder, which writes them there; the forwarder's own group is not subscribed.
    this.logForwarder = new XpFunction(this, 'LogForwarder', {
      entry: FunctionEntry.LogForwarder,
      stage,
      tracing: config.tracing,
      timeout: Duration.seconds(30),
      logRetention: logRetention(config),
      description: 'xp log forwarder: error lines and background services into the shared log groups',
      environment: { [LOG_ROUTES_VARIABLE]: JSON.stringify({ errors: `${config.logGroupPrefix}/errors`, services: `${config.logGroupPrefix}/services` }) },
      ...(props.code === undefined ? {} : { code: props.code }),
    }).bindLogGroups([this.errorLogs, this.serviceLogs]);
    const destination = new logsDestinations.LambdaDestination(this.logForwarder.function);
    const background = new Set(['aggregator', 'alarm-rollback', 'guardrail-check', 'migrate', 'migrate-early', 'webhook-dispatch']);
    for (const [name, fn] of Object.entries(functions)) {
      new logs.SubscriptionFilter(this, `ErrorLines-${name}`, {
        logGroup: fn.logGroup,
        destination,
        filterName: subscriptionFilterName('errors', name),
        filterPattern: logs.FilterPattern.stringValue('$.level', '=', 'error'),
      });
      if (background.has(name)) {
        new logs.SubscriptionFilter(this, `ServiceLines-${name}`, {
          logGroup: fn.logGroup,
          destination,
          filterName: subscriptionFilterName('services', name),
          filterPattern: logs.FilterPattern.allEvents(),
        });
      }
    }
    // Every alarm: a stage-prefixed name (its construct id), and both its firing and its recovery to the topic.
    const notify = new actions.SnsAction(this.alarmTopic);
    const alarm = (name: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm => {
      const a = new cloudwatch.Alarm(this, name, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, alarmName: alarmName(stage, name), ...props });
      a.addAlarmAction(notify);
      a.addOkAction(notify);
      this.alarms.push(a);
      return a;
    };
    // The log forwarder's own errors are alarmed on too (its log group is not forwarded: that would loop).
    const alarmed = { ...functions, 'log-forwarder': this.logForwarder };
    for (const [name, fn] of Object.entries(alarmed)) {
      const errors = fn.function.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' });
      const invocations = fn.function.metricInvocations({ period: FIVE_MINUTES, statistic: 'Sum' });
      alarm(`ErrorRate-${name}`, {
        alarmDescription: `More than ${THRESHOLDS.errorRatePercent}% of ${name} invocations failed in 5 minutes`,
        metric: new cloudwatch.MathExpression({ expression: 'IF(invocations > 0, 100 * errors / invocations, 0)', usingMetrics: { errors, invocations }, period: FIVE_MINUTES, label: `${name} error rate (%)` }),
        threshold: THRESHOLDS.errorRatePercent,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    const iteratorAge = new cloudwatch.Metric({ namespace: 'AWS/Lambda', metricName: 'IteratorAge', dimensionsMap: { FunctionName: pipeline.aggregator.function.functionName }, statistic: 'Maximum', period: Duration.minutes(1) });
    alarm('IteratorAge', {
      alarmDescription: 'The aggregator is more than 5 minutes behind the event stream',
      metric: iteratorAge,
      threshold: THRESHOLDS.iteratorAgeMs,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
    });
    // IteratorAge above has no data while the aggregator is not invoked at all (mapping disabled,
    // function throttled to nothing), which counts as OK. Two alarms that do not depend on it:
    // the stream's own iterator age, the oldest record any consumer's GetRecords returned (the
    // aggregator's mapping and the archive's Firehose each poll every shard about once a second,
    // busy or idle, so no datapoint at all means nothing reads the stream: breaching) ...
    alarm('StreamIteratorAge', {
      alarmDescription: 'A consumer of the event stream (the aggregator or the archive) is more than 5 minutes behind, or nothing reads the stream at all',
      metric: data.events.metricGetRecordsIteratorAgeMilliseconds({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: THRESHOLDS.iteratorAgeMs,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    // ... and records arriving while the aggregator is not invoked at all: a stopped consumer
    // (whose GetRecords calls, and so its age, are missing from the stream's metric too).
    alarm('AggregatorStalled', {
      alarmDescription: 'Events reach the stream but the aggregator has not been invoked for 15 minutes (mapping disabled or the function cannot run)',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(FILL(incoming, 0) > 0 AND FILL(invocations, 0) == 0, 1, 0)',
        usingMetrics: {
          incoming: data.events.metricIncomingRecords({ period: FIVE_MINUTES, statistic: 'Sum' }),
          invocations: pipeline.aggregator.function.metricInvocations({ period: FIVE_MINUTES, statistic: 'Sum' }),
        },
        period: FIVE_MINUTES,
        label: 'records in, aggregator idle',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
    });
    const dlqDepth = data.pipelineFailures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' });
    alarm('DlqDepth', {
      alarmDescription: 'Batches exhausted their retries and are waiting in the pipeline failure queue',
      metric: dlqDepth,
      threshold: THRESHOLDS.dlqDepth,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    const deadLetters = xpMetric(MetricName.DeadLetters, stage, 'Sum');
    alarm('DeadLetters', {
      alarmDescription: 'The aggregator dead-lettered records (see the dead_letters table)',
      metric: deadLetters,
      threshold: THRESHOLDS.deadLetters,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    alarm('ExposuresDropped', {
      alarmDescription: 'The evaluation function lost exposures: the event stream refused them and they could not be kept for a retry (those units are missing from the results)',
      metric: xpMetric(MetricName.ExposuresDropped, stage, 'Sum'),
      threshold: THRESHOLDS.exposuresDropped,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    const apiLatency = (statistic: string): cloudwatch.Metric =>
      new cloudwatch.Metric({ namespace: 'AWS/ApiGateway', metricName: 'Latency', dimensionsMap: { ApiId: api.httpApi.apiId, Stage: '$default' }, statistic, period: FIVE_MINUTES });
    alarm('ApiLatencyP99', {
      alarmDescription: `API p99 latency above ${THRESHOLDS.apiP99Ms} ms`,
      metric: apiLatency('p99'),
      threshold: THRESHOLDS.apiP99Ms,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    // The API answers a database outage with a handled 503, which the functions' error rates do not see.
    const apiResponses = (metricName: string): cloudwatch.Metric =>
      new cloudwatch.Metric({ namespace: 'AWS/ApiGateway', metricName, dimensionsMap: { ApiId: api.httpApi.apiId, Stage: '$default' }, statistic: 'Sum', period: FIVE_MINUTES });
    alarm('Api5xxRate', {
      alarmDescription: `More than ${THRESHOLDS.api5xxPercent}% of API responses were 5xx in two 5-minute periods in a row`,
      metric: new cloudwatch.MathExpression({
        expression: 'IF(requests > 0, 100 * errors / requests, 0)',
        usingMetrics: { errors: apiResponses('5xx'), requests: apiResponses('Count') },
        period: FIVE_MINUTES,
        label: 'API 5xx rate (%)',
      }),
      threshold: THRESHOLDS.api5xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
    });
    // The raw event archive is the recovery path when the aggregator skipped a window (xp replay).
    const archiveFreshness = new cloudwatch.Metric({
      namespace: 'AWS/Firehose',
      metricName: 'DeliveryToS3.DataFreshness',
      dimensionsMap: { DeliveryStreamName: pipeline.archive.deliveryStream.deliveryStreamName! },
      statistic: 'Maximum',
      period: FIVE_MINUTES,
    });
    alarm('ArchiveFreshness', {
      alarmDescription: `The event archive (Firehose to S3) is more than ${THRESHOLDS.archiveFreshnessSeconds / 60} minutes behind: replay would miss events`,
      metric: archiveFreshness,
      threshold: THRESHOLDS.archiveFreshnessSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    alarm('RollbackDlqDepth', {
      alarmDescription: 'A guardrail rollback failed for good (see the rollback failure queue): switch the flag off by hand',
      metric: this.rollbackFailures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: THRESHOLDS.rollbackDlqDepth,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    const evalP99 = xpMetric(MetricName.EvaluationLatency, stage, 'p99');
    alarm('EvaluationLatencyP99', {
      alarmDescription: `SDK request p99 inside the evaluation function above ${THRESHOLDS.evaluationP99Ms} ms`,
      metric: evalP99,
      threshold: THRESHOLDS.evaluationP99Ms,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });

    // Throttled invocations: a function at its reserved concurrency (sdk, api, aggregator) or the account's limit.
    for (const [name, fn] of Object.entries(alarmed)) {
      alarm(`Throttles-${name}`, {
        alarmDescription: `${name} invocations were throttled (its reserved concurrency or the account's Lambda concurrency is used up)`,
        metric: fn.function.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: THRESHOLDS.functionThrottles,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    // The database: the main failure mode the platform answers with 503s.
    const maxAcu = config.aurora.maxCapacity;
    const cluster = data.cluster;
    alarm('DatabaseCapacity', {
      alarmDescription: `Aurora has used at least ${THRESHOLDS.databaseCapacityPercent}% of its maximum capacity (${maxAcu} ACU) for 15 minutes: raise aurora.maxCapacity`,
      metric: cluster.metricServerlessDatabaseCapacity({ period: FIVE_MINUTES, statistic: 'Maximum' }),
      threshold: (maxAcu * THRESHOLDS.databaseCapacityPercent) / 100,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
    });
    alarm('DatabaseConnections', {
      alarmDescription: `Aurora connections above ${THRESHOLDS.databaseConnectionsPercent}% of max_connections (${databaseMaxConnections(maxAcu)} at ${maxAcu} ACU) for 15 minutes: lower reservedConcurrency, or set databaseProxy`,
      metric: cluster.metricDatabaseConnections({ period: FIVE_MINUTES, statistic: 'Maximum' }),
      threshold: Math.floor((databaseMaxConnections(maxAcu) * THRESHOLDS.databaseConnectionsPercent) / 100),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    alarm('DatabaseCpu', {
      alarmDescription: `Aurora CPU above ${THRESHOLDS.databaseCpuPercent}% for 15 minutes`,
      metric: cluster.metricCPUUtilization({ period: FIVE_MINUTES, statistic: 'Maximum' }),
      threshold: THRESHOLDS.databaseCpuPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    alarm('DatabaseFreeableMemory', {
      alarmDescription: `Aurora freeable memory below ${THRESHOLDS.databaseFreeableMemoryPercent}% of its memory at maximum capacity for 15 minutes`,
      metric: cluster.metricFreeableMemory({ period: FIVE_MINUTES, statistic: 'Minimum' }),
      threshold: Math.floor((maxAcu * ACU_BYTES * THRESHOLDS.databaseFreeableMemoryPercent) / 100),
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    // Kinesis refusing writes: the SDK function answers 503 and the SDKs retry, but events wait.
    alarm('StreamWriteThrottles', {
      alarmDescription: 'The event stream refused writes (WriteProvisionedThroughputExceeded) in two 5-minute periods in a row',
      metric: data.events.metricWriteProvisionedThroughputExceeded({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: THRESHOLDS.streamWriteThrottles,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
    });
    alarm('StreamPutRecordsThrottles', {
      alarmDescription: 'PutRecords records were throttled by the event stream in two 5-minute periods in a row',
      metric: data.events.metricPutRecordsThrottledRecords({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: THRESHOLDS.streamWriteThrottles,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
    });
    alarm('RulesetTableThrottles', {
      alarmDescription: 'The rulesets table throttled requests (GetItem, Query, PutItem, BatchWriteItem) within 5 minutes',
      metric: data.rulesets.metricThrottledRequestsForOperations({
        operations: [dynamodb.Operation.GET_ITEM, dynamodb.Operation.QUERY, dynamodb.Operation.PUT_ITEM, dynamodb.Operation.BATCH_WRITE_ITEM],
        period: FIVE_MINUTES,
      }),
      threshold: THRESHOLDS.tableThrottles,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });

    const fnList = Object.entries(alarmed);
    const system = new cloudwatch.Dashboard(this, 'SystemHealth', { dashboardName: `xp-${stage}-system-health`, defaultInterval: Duration.hours(3) });
    system.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Function errors', left: fnList.map(([n, f]) => f.function.metricErrors({ period: FIVE_MINUTES, label: n })), width: 12 }),
      new cloudwatch.GraphWidget({ title: 'Function throttles', left: fnList.map(([n, f]) => f.function.metricThrottles({ period: FIVE_MINUTES, label: n })), width: 12 }),
    );
    system.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Kinesis iterator age (aggregator, ms)', left: [iteratorAge], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Pipeline failures', left: [dlqDepth.with({ label: 'on-failure queue depth' })], right: [deadLetters.with({ label: 'dead letters' }), xpMetric(MetricName.DuplicateEvents, stage, 'Sum').with({ label: 'duplicate events skipped' })], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Aggregation lag (ms)', left: [xpMetric(MetricName.AggregationLag, stage, 'Maximum')], width: 8 }),
    );
    system.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Aurora capacity (ACU)', left: [data.cluster.metricServerlessDatabaseCapacity({ period: FIVE_MINUTES, statistic: 'Maximum' })], width: 12 }),
      new cloudwatch.GraphWidget({ title: 'Aurora connections', left: [data.cluster.metricDatabaseConnections({ period: FIVE_MINUTES, statistic: 'Maximum' })], width: 12 }),
    );
    system.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }));

    const perf = new cloudwatch.Dashboard(this, 'ApiPerformance', { dashboardName: `xp-${stage}-api-performance`, defaultInterval: Duration.hours(3) });
    perf.addWidgets(
      ...API_ROUTE_LATENCY_STATISTICS.map(
        (statistic) =>
          new cloudwatch.GraphWidget({
            title: `Latency ${statistic} by route (ms)`,
            left: [new cloudwatch.MathExpression({ expression: apiRouteLatencySearch(api.httpApi.apiId, statistic), usingMetrics: {}, period: FIVE_MINUTES, label: '' })],
            width: 8,
          }),
      ),
    );
    perf.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Evaluation latency in function (ms)', left: ['p50', 'p90', 'p99'].map((s) => xpMetric(MetricName.EvaluationLatency, stage, s).with({ label: s })), width: 8 }),
      new cloudwatch.GraphWidget({ title: 'Evaluations', left: [xpMetric(MetricName.Evaluations, stage, 'Sum')], width: 8 }),
      new cloudwatch.GraphWidget({
        title: 'Events accepted / rejected',
        left: [xpMetric(MetricName.EventsAccepted, stage, 'Sum').with({ label: 'accepted' }), xpMetric(MetricName.EventsRejected, stage, 'Sum').with({ label: 'rejected' }), xpMetric(MetricName.EventBatchesRefused, stage, 'Sum').with({ label: 'batches refused (retried)' })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Exposures refused by the stream',
        left: [xpMetric(MetricName.ExposuresRecovered, stage, 'Sum').with({ label: 'recovered on a retry' }), xpMetric(MetricName.ExposuresDropped, stage, 'Sum').with({ label: 'lost' })],
        right: [xpMetric(MetricName.ExposuresRetrying, stage, 'Maximum').with({ label: 'waiting (max)' })],
        width: 8,
      }),
    );
  }
}
