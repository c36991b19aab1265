import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { FunctionEntry } from './bundling.js';
import { logRetention } from './config.js';
import type { XpConfig } from './config.js';
import type { DataStack } from './data-stack.js';
import { EventArchive } from './event-archive.js';
import { XpFunction } from './xp-function.js';
import { EnvVar } from '../functions/runtime.js';
import type { CodeFactory } from './xp-function.js';

export interface PipelineStackProps extends StackProps {
  readonly config: XpConfig;
  readonly vpc: ec2.IVpc;
  readonly data: DataStack;
  readonly code?: CodeFactory;
}

/** Event-mapping settings, exported so the tests assert the same numbers the stack uses. */
export const PIPELINE_MAPPING = {
  batchSize: 500,
  maxBatchingWindowSeconds: 5,
  /**
   * -1: retry without a count limit. The aggregator dead-letters poison records itself (attempts in
   * record_failures, then dead_letters), so a batch only comes back failed when the database is
   * unreachable or the function crashed or timed out; it must then block the shard (IteratorAge
   * alarms) rather than skip events after a few minutes' outage.
   */
  retryAttempts: -1,
  /** How long before the stream's retention a stuck record gives up (so it can still be read from the stream). */
  recordAgeMarginHours: 12,
  /** Lambda's largest maximum record age for Kinesis: 7 days. */
  maxRecordAgeLimitHours: 168,
} as const;

/**
 * The aggregator's maximum record age in hours: the stream's retention less a 12-hour margin (so
 * the on-failure queue's shard and sequence numbers can still be read from the stream, and the
 * window replayed), at least 1 hour, at most Lambda's 7 days. The configuration allows retention
 * 24-168 hours, so this is 12-156 hours (12 with the default 24-hour stream).
 */
export function maxRecordAgeHours(streamRetentionHours: number): number {
  return Math.max(1, Math.min(streamRetentionHours - PIPELINE_MAPPING.recordAgeMarginHours, PIPELINE_MAPPING.maxRecordAgeLimitHours));
}

/**
 * The aggregator behind a Kinesis event source mapping: partial batch responses (the handler reports
 * the first failed record and everything after it), bisect on function errors (the handler never
 * throws, so only timeouts and crashes split a batch), retries without a count limit (a database
 * outage blocks the shard instead of skipping events), a maximum record age 12 hours below the
 * stream's retention, and an SQS on-failure destination for batches older than that
 * (docs/operations.md, "On-failure queue: replaying a skipped window").
 */
export class PipelineStack extends Stack {
  readonly aggregator: XpFunction;
  readonly mapping: lambda.EventSourceMapping;
  /** Firehose → S3: every raw event, for `xp replay`. */
  readonly archive: EventArchive;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config, data } = props;
    this.aggregator = new XpFunction(this, 'Aggregator', {
      entry: FunctionEntry.Aggregator,
      stage: config.stage,
      tracing: config.tracing,
      vpc: props.vpc,
      memorySize: 1024,
      // A 500-record batch is a few set-based statements; a minute leaves room for a cold Aurora.
      timeout: Duration.seconds(60),
      logRetention: logRetention(config),
      description: 'xp aggregator: Kinesis events to exactly-once aggregates in PostgreSQL',
      // Kept for it whatever the SDK traffic does (one instance per shard at a time).
      reservedConcurrentExecutions: config.reservedConcurrency.aggregator,
      ...(props.code === undefined ? {} : { code: props.code }),
    })
      .bindDatabase(data.database)
      // How long a record can wait in the stream, for how long dedupe records are kept.
      .setEnvironment(EnvVar.StreamRetentionHours, String(config.streamRetentionHours))
      // How long the event explorer keeps events (the aggregator purges older ones hourly).
      .setEnvironment(EnvVar.ExplorerRetentionDays, String(config.explorerRetentionDays));
    this.mapping = this.aggregator.consumeStream(data.events, {
      batchSize: PIPELINE_MAPPING.batchSize,
      maxBatchingWindow: Duration.seconds(PIPELINE_MAPPING.maxBatchingWindowSeconds),
      bisectBatchOnError: true,
      retryAttempts: PIPELINE_MAPPING.retryAttempts,
      maxRecordAge: Duration.hours(maxRecordAgeHours(config.streamRetentionHours)),
      onFailure: data.pipelineFailures,
    });
    this.archive = new EventArchive(this, 'EventArchive', {
      stage: config.stage,
      stream: data.events,
      retentionDays: config.archiveRetentionDays,
      removalPolicy: config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      logRetention: logRetention(config),
    });
  }
}
