import { Duration, RemovalPolicy, Resource, Stack } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import type { StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { auroraBackupRetentionDays, auroraEngineVersion, auroraReader, logRetention } from './config.js';
import type { XpConfig } from './config.js';
import { SharedCache } from './shared-cache.js';
import type { DatabaseBinding } from './xp-function.js';

const POSTGRES_PORT = 5432;

/** The database user every function but the migrations connects as (row access only; store/app-role.ts). */
export const APP_DATABASE_USER = 'xp_app';

export interface DataStackProps extends StackProps {
  readonly config: XpConfig;
  readonly vpc: ec2.IVpc;
}

/**
 * Everything that holds data: Aurora PostgreSQL Serverless v2 (the source of truth), the DynamoDB
 * table of published rulesets, the Kinesis event stream (on-demand or provisioned: `stream`), the pipeline's on-failure queue, and the
 * first owner's password and platform key secrets. Data stores follow the configured removal policy
 * (retain by default). Two database users: the master user (`xp/<stage>/database`), for the
 * migrations only, and the application user (`xp/<stage>/database-app`), which the migrations create
 * with access to rows and nothing else, for every other function.
 */
export class DataStack extends Stack {
  readonly cluster: rds.DatabaseCluster;
  /** The application user's binding: every function's but the migrations'. */
  readonly database: DatabaseBinding;
  /** The master user's binding: the migrations', which create the application user. */
  readonly migrationDatabase: DatabaseBinding;
  readonly rulesets: dynamodb.Table;
  readonly events: kinesis.Stream;
  readonly pipelineFailures: sqs.Queue;
  readonly adminSecret: secretsmanager.Secret;
  /** The platform key: webhook signing secrets derive from it and webhook URLs are encrypted under it. */
  readonly platformKeySecret: secretsmanager.Secret;
  readonly proxy?: rds.DatabaseProxy;
  /** The shared cache, when `sharedCache` is configured. */
  readonly sharedCache?: SharedCache;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    // A retained stage's data stack cannot be deleted by accident (cdk destroy, the console): its
    // termination protection must be turned off first (docs/deploy.md#teardown).
    super(scope, id, { terminationProtection: props.config.removalPolicy === 'retain', ...props });
    const { config, vpc } = props;
    const retain = config.removalPolicy === 'retain';
    const dataRemoval = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const clusterIdentifier = `xp-${config.stage}`;

    // Created before the cluster so its retention is ours, not "never expire".
    const dbLogs = new logs.LogGroup(this, 'DatabaseLogs', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: logRetention(config),
      removalPolicy: dataRemoval,
    });
    // The configured minor (aurora.engineVersion), upgraded on purpose only: with automatic minor
    // upgrades Aurora would move past the template's version, and a later deploy naming a lower one fails.
    const engine = rds.DatabaseClusterEngine.auroraPostgres({ version: auroraEngineVersion(config) });
    // Both instances: no automatic minor upgrade (above), and Performance Insights at its free 7-day retention.
    const instanceOptions = {
      publiclyAccessible: false,
      autoMinorVersionUpgrade: false,
      enablePerformanceInsights: true,
      performanceInsightRetention: rds.PerformanceInsightRetention.DEFAULT,
    } as const;
    // The server refuses connections without TLS (the functions verify its certificate; RDS Proxy speaks TLS to it).
    const parameterGroup = new rds.ParameterGroup(this, 'ClusterParameters', {
      engine,
      description: `xp ${config.stage}: Aurora PostgreSQL cluster parameters (TLS required)`,
      parameters: { 'rds.force_ssl': '1' },
    });
    const readerZone = vpc.availabilityZones[1];
    this.cluster = new rds.DatabaseCluster(this, 'Database', {
      clusterIdentifier,
      engine,
      parameterGroup,
      writer: rds.ClusterInstance.serverlessV2('writer', instanceOptions),
      // A reader Aurora promotes in seconds when the writer or its zone fails, instead of recreating
      // the writer (minutes). Promotion tier 1 makes it scale with the writer, so it can take the load.
      // It is pinned to the VPC's second zone; the writer's zone is Aurora's choice (docs/deploy.md).
      ...(auroraReader(config)
        ? { readers: [rds.ClusterInstance.serverlessV2('reader', { ...instanceOptions, scaleWithWriter: true, ...(readerZone === undefined ? {} : { availabilityZone: readerZone }) })] }
        : {}),
      serverlessV2MinCapacity: config.aurora.minCapacity,
      serverlessV2MaxCapacity: config.aurora.maxCapacity,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      credentials: rds.Credentials.fromGeneratedSecret('xp_admin', { secretName: `xp/${config.stage}/database` }),
      defaultDatabaseName: 'xp',
      storageEncrypted: true,
      iamAuthentication: true,
      deletionProtection: retain,
      // Retained: kept outright (a snapshot policy makes CloudFormation try the delete, which deletion
      // protection refuses, and the stack would end in DELETE_FAILED). Destroyed: never without a
      // final snapshot, so a stage switched to "destroy" by mistake still leaves its data behind.
      removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.SNAPSHOT,
      port: POSTGRES_PORT,
      backup: { retention: Duration.days(auroraBackupRetentionDays(config)) },
      cloudwatchLogsExports: ['postgresql'],
    });
    this.cluster.node.addDependency(dbLogs);
    const secret = this.cluster.secret!;
    // The application user's credentials, in the same JSON format (host and port attached), which
    // the migrations set as that user's password on each run.
    const appSecretValue = new rds.DatabaseSecret(this, 'AppDatabaseSecret', {
      username: APP_DATABASE_USER,
      secretName: `xp/${config.stage}/database-app`,
    });
    appSecretValue.applyRemovalPolicy(dataRemoval);
    const appSecret = appSecretValue.attach(this.cluster);
    if (retain) {
      // What the kept cluster needs stays with it: its credentials, subnet group and security group.
      // The generated secret itself (cluster.secret is its attachment to the cluster) and the subnet group.
      for (const id of ['Secret', 'Subnets']) {
        const child = this.cluster.node.findChild(id);
        if (child instanceof Resource) {
          child.applyRemovalPolicy(RemovalPolicy.RETAIN);
        }
      }
      for (const group of this.cluster.connections.securityGroups) {
        group.applyRemovalPolicy(RemovalPolicy.RETAIN);
      }
    } else {
      NagSuppressions.addResourceSuppressions(this.cluster, [
        { id: 'AwsSolutions-RDS10', reason: 'removalPolicy "destroy" marks a throwaway stage (tests, previews): its database is meant to be deleted with it, after a final snapshot (docs/deploy.md).' },
      ]);
    }
    if (config.databaseProxy) {
      this.proxy = this.cluster.addProxy('Proxy', { secrets: [secret, appSecret], vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }, requireTLS: true });
      const via = { securityGroupId: this.proxy.connections.securityGroups[0]!.securityGroupId, port: POSTGRES_PORT, host: this.proxy.endpoint };
      this.database = { secret: appSecret, ...via };
      this.migrationDatabase = { secret, ...via };
      // The proxy, not the functions, connects to the cluster.
      this.cluster.connections.allowDefaultPortFrom(this.proxy, 'RDS Proxy');
    } else {
      const via = { securityGroupId: this.cluster.connections.securityGroups[0]!.securityGroupId, port: POSTGRES_PORT };
      this.database = { secret: appSecret, ...via };
      this.migrationDatabase = { secret, ...via };
    }

    this.adminSecret = new secretsmanager.Secret(this, 'AdminPassword', {
      secretName: `xp/${config.stage}/initial-owner-password`,
      description: 'Password of the first owner account, set on first deploy; change it after the first login.',
      generateSecretString: { passwordLength: 32, excludePunctuation: true, includeSpace: false },
      removalPolicy: dataRemoval,
    });
    // Never rotated: a new value invalidates every webhook's signing secret and stored URL.
    this.platformKeySecret = new secretsmanager.Secret(this, 'PlatformKey', {
      secretName: `xp/${config.stage}/platform-key`,
      description: 'The xp platform key: webhook signing secrets derive from it and webhook URLs are encrypted under it. Do not change or rotate it.',
      generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
      removalPolicy: dataRemoval,
    });

    this.rulesets = new dynamodb.Table(this, 'Rulesets', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'version', type: dynamodb.AttributeType.NUMBER },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: retain,
      removalPolicy: dataRemoval,
    });

    // On-demand sizes itself; provisioned has exactly `stream.shards` shards (the aggregator needs one instance each).
    // (The configuration schema refuses provisioned without shards and on-demand with them.)
    const { mode, shards } = config.stream;
    this.events = new kinesis.Stream(this, 'Events', {
      ...(mode === 'provisioned' && shards !== undefined ? { streamMode: kinesis.StreamMode.PROVISIONED, shardCount: shards } : { streamMode: kinesis.StreamMode.ON_DEMAND }),
      // The AWS-managed key: a customer key would add KMS calls (cost, throttling) for every producer and consumer.
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: Duration.hours(config.streamRetentionHours),
      removalPolicy: dataRemoval,
    });

    if (config.sharedCache !== undefined) {
      this.sharedCache = new SharedCache(this, 'SharedCache', { stage: config.stage, vpc, options: config.sharedCache });
    }

    this.pipelineFailures = new sqs.Queue(this, 'PipelineFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: dataRemoval,
    });
  }
}
