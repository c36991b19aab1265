import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** The archive's object layout, the same as the local stack's (cloud/src/store/event-archive.ts). */
export const ARCHIVE_PREFIX = 'archive/events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/';
export const ARCHIVE_ERROR_PREFIX = 'archive/errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/';

/** Days a replaced or deleted archive object is kept as a noncurrent version. */
export const ARCHIVE_NONCURRENT_VERSION_DAYS = 30;

/** Firehose buffering: an object per 5 minutes or 64 MB, whichever comes first. */
export const ARCHIVE_BUFFERING = { intervalSeconds: 300, sizeMb: 64 } as const;

export interface EventArchiveProps {
  readonly stage: string;
  readonly stream: kinesis.IStream;
  /** Days objects are kept (moved to Glacier Instant Retrieval after 30). */
  readonly retentionDays: number;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The raw event archive: a Kinesis Data Firehose delivery stream reading the event stream and writing
 * newline-delimited JSON, GZIP-compressed, into a private, encrypted, TLS-only S3 bucket partitioned by
 * arrival hour (`xp replay` reads the same layout).
 */
export class EventArchive extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly deliveryStream: firehose.CfnDeliveryStream;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: EventArchiveProps) {
    super(scope, id);
    const autoDelete = props.removalPolicy === RemovalPolicy.DESTROY;
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: autoDelete,
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Versioned: an object overwritten or deleted by mistake (or by a compromised writer) stays
      // recoverable for 30 days as a noncurrent version; the archive is the only source for a replay.
      versioned: true,
      // CDK's optional bucket properties clash with exactOptionalPropertyTypes; a Bucket is an IBucket.
      serverAccessLogsBucket: this.accessLogs as s3.IBucket,
      serverAccessLogsPrefix: 'archive/',
      lifecycleRules: [
        {
          id: 'archive-tiering-and-expiry',
          transitions: [{ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(30) }],
          expiration: Duration.days(props.retentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
          noncurrentVersionExpiration: Duration.days(ARCHIVE_NONCURRENT_VERSION_DAYS),
        },
        {
          // An expired object leaves a delete marker, and its last version goes 30 days later: the
          // marker, then alone, is removed at once rather than when it reaches the expiry age itself.
          // (S3 refuses ExpiredObjectDeleteMarker in a rule with an expiration in days: a rule of its own.)
          id: 'archive-expired-delete-markers',
          expiredObjectDeleteMarker: true,
        },
      ],
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: autoDelete,
    });
    const deliveryLogs = new logs.LogGroup(this, 'DeliveryLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    const deliveryLogStream = new logs.LogStream(this, 'DeliveryLogStream', { logGroup: deliveryLogs, removalPolicy: RemovalPolicy.DESTROY });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } } }),
      description: `xp ${props.stage} event archive delivery`,
    });
    const read = new iam.Policy(this, 'ReadStream', {
      statements: [
        new iam.PolicyStatement({ actions: ['kinesis:DescribeStream', 'kinesis:GetShardIterator', 'kinesis:GetRecords', 'kinesis:ListShards'], resources: [props.stream.streamArn] }),
        new iam.PolicyStatement({ actions: ['s3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:GetObject', 's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:PutObject'], resources: [this.bucket.bucketArn, this.bucket.arnForObjects('archive/*')] }),
        new iam.PolicyStatement({ actions: ['logs:PutLogEvents'], resources: [deliveryLogs.logGroupArn] }),
      ],
    });
    read.attachToRole(this.role);

    this.deliveryStream = new firehose.CfnDeliveryStream(this, 'DeliveryStream', {
      deliveryStreamName: `xp-${props.stage}-event-archive`,
      deliveryStreamType: 'KinesisStreamAsSource',
      kinesisStreamSourceConfiguration: { kinesisStreamArn: props.stream.streamArn, roleArn: this.role.roleArn },
      extendedS3DestinationConfiguration: {
        bucketArn: this.bucket.bucketArn,
        roleArn: this.role.roleArn,
        prefix: ARCHIVE_PREFIX,
        errorOutputPrefix: ARCHIVE_ERROR_PREFIX,
        compressionFormat: 'GZIP',
        bufferingHints: { intervalInSeconds: ARCHIVE_BUFFERING.intervalSeconds, sizeInMBs: ARCHIVE_BUFFERING.sizeMb },
        // One event per line: records are JSON objects without a newline; the processor's default delimiter is "\n".
        processingConfiguration: { enabled: true, processors: [{ type: 'AppendDelimiterToRecord' }] },
        cloudWatchLoggingOptions: { enabled: true, logGroupName: deliveryLogs.logGroupName, logStreamName: deliveryLogStream.logStreamName },
        encryptionConfiguration: { noEncryptionConfig: 'NoEncryption' },
      },
    });
    // The role must hold its permissions before Firehose validates the source.
    this.deliveryStream.node.addDependency(read);
  }
}
