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
  retryAttempts: 10,
} as const;

/**
 * The aggregator behind a Kinesis event source mapping: partial batch responses (the handler reports
 * the first failed record and everything after it), bisect on function errors (the handler never
 * throws, so only timeouts and crashes split a batch), bounded retries, a maximum record age equal to
 * the stream's retention, and an SQS on-failure destination for batches that exhaust them.
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
      vpc: props.vpc,
      memorySize: 1024,
      // A 500-record batch is a few set-based statements; a minute leaves room for a cold Aurora.
      timeout: Duration.seconds(60),
      logRetention: logRetention(config),
      description: 'xp aggregator: Kinesis events to exactly-once aggregates in PostgreSQL',
      ...(props.code === undefined ? {} : { code: props.code }),
    })
      .bindDatabase(data.database)
      // How long a record can wait in the stream, for how long dedupe records are kept.
      .setEnvironment(EnvVar.StreamRetentionHours, String(config.streamRetentionHours));
    this.mapping = this.aggregator.consumeStream(data.events, {
      batchSize: PIPELINE_MAPPING.batchSize,
      maxBatchingWindow: Duration.seconds(PIPELINE_MAPPING.maxBatchingWindowSeconds),
      bisectBatchOnError: true,
      retryAttempts: PIPELINE_MAPPING.retryAttempts,
      // Lambda allows at most 7 days.
      maxRecordAge: Duration.hours(Math.min(config.streamRetentionHours, 168)),
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
