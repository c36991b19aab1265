import path from 'node:path';
import { AssetHashType, DockerImage, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import { EnvVar } from '../functions/runtime.js';
import { BUNDLE_FILE, CLOUD_DIR, bundleFunctionSync } from './bundling.js';
import type { FunctionEntry } from './bundling.js';

/** How long the pool waits for a connection when XP_DB_CONNECT_TIMEOUT_MS is unset (cloud/src/store/db.ts). */
export const POOL_CONNECT_TIMEOUT = Duration.seconds(20);

/** The runtime of every project function; bundling.ts targets the same Node.js major. */
export const XP_FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Supplies a function's code; the default bundles with esbuild, tests pass a tiny inline stub. */
export type CodeFactory = (entry: FunctionEntry) => lambda.Code;

/** esbuild in this process (no Docker), hashed by output so unchanged code is not re-uploaded. */
export const bundledCode: CodeFactory = (entry) =>
  lambda.Code.fromAsset(path.join(CLOUD_DIR, 'src', 'functions'), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the type; never pulled, because local bundling always succeeds or throws.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:20-slim'),
      // Part of CDK's bundling cache key, which ignores the local hook: without it every entry would share one bundle.
      command: ['xp-bundle', entry],
      local: {
        tryBundle(outputDir: string): boolean {
          bundleFunctionSync(entry, outputDir);
          return true;
        },
      },
    },
  });

/** A table as the bindings see it. */
export interface TableRef {
  readonly tableArn: string;
  readonly tableName: string;
}

/** A stream as the bindings see it; `encryptionKey` when encrypted with a customer key. */
export interface StreamRef {
  readonly streamArn: string;
  readonly streamName: string;
  readonly encryptionKey?: { readonly keyArn: string } | undefined;
}

/** A secret as the bindings see it. */
export interface SecretRef {
  readonly secretArn: string;
}

/** Where a function reaches the database: its credentials secret and who may connect. */
export interface DatabaseBinding {
  readonly secret: SecretRef;
  /** The security group of the cluster (or proxy) that admits the function. */
  readonly securityGroupId: string;
  readonly port: number;
  /** The host to connect to instead of the secret's (RDS Proxy endpoint). */
  readonly host?: string;
}

/** How the function reads a Kinesis stream through an event source mapping. */
export interface StreamConsumerOptions {
  /** Records per invocation. Default 500. */
  readonly batchSize?: number;
  /** Longest wait to fill a batch. Default 5 s. */
  readonly maxBatchingWindow?: Duration;
  /** Split a batch in two when the function errors (timeouts, crashes). Default true. */
  readonly bisectBatchOnError?: boolean;
  /** Retries of a failing batch before it goes to the on-failure destination; -1 (the default) retries until maxRecordAge. */
  readonly retryAttempts?: number;
  /**
   * Records older than this skip to the on-failure destination (only their shard and sequence
   * numbers go there). Keep it clearly below the stream's retention, so they can still be read.
   */
  readonly maxRecordAge: Duration;
  /** Where metadata of batches that exhaust their retries is sent. */
  readonly onFailure: sqs.IQueue;
}

export interface XpFunctionProps {
  /** Which entry point (cloud/src/functions/<entry>.ts) runs. */
  readonly entry: FunctionEntry;
  /** The stage, passed as XP_STAGE (the metrics' Stage dimension). */
  readonly stage: string;
  /** Default: the bundled entry point. */
  readonly code?: CodeFactory;
  readonly description?: string;
  /** Default 512 MB (CPU scales with memory). */
  readonly memorySize?: number;
  /** Default 10 s. */
  readonly timeout?: Duration;
  /** Default 30 days. */
  readonly logRetention?: logs.RetentionDays;
  /** The VPC to run in (private isolated subnets); none when absent. */
  readonly vpc?: ec2.IVpc;
  /** Extra environment variables. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Default unreserved (null too: the configuration's way of saying so). */
  readonly reservedConcurrentExecutions?: number | null;
  /** X-Ray active tracing (the configuration's `tracing`). Default true. */
  readonly tracing?: boolean;
}

/**
 * The project's one Lambda construct: Node.js 24 on arm64, esbuild bundle with source maps, active
 * tracing unless turned off, its own log group with a retention, and its own role that starts empty. `bind*` methods
 * set the function's variables and grant exactly the actions its code calls, on exactly that resource.
 */
export class XpFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly securityGroup?: ec2.SecurityGroup;
  /** The function's timeout. */
  readonly timeout: Duration;
  private readonly vpc: ec2.IVpc | undefined;

  constructor(scope: Construct, id: string, props: XpFunctionProps) {
    super(scope, id);
    this.vpc = props.vpc;
    this.timeout = props.timeout ?? Duration.seconds(10);
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: `xp ${props.entry} function (${props.stage})` });
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] }));
    if (props.vpc !== undefined) {
      this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', { vpc: props.vpc, description: `xp ${props.entry} function`, allowAllOutbound: true });
      // Lambda's network interfaces in the VPC; EC2 cannot scope these to interfaces that do not exist yet.
      this.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ManageVpcInterfaces',
          actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
          resources: ['*'],
        }),
      );
    }
    const code = (props.code ?? bundledCode)(props.entry);
    this.function = new lambda.Function(this, 'Function', {
      // Node.js 24 (Lambda deprecates it on 2028-04-30; Node.js 22 on 2027-04-30). Keep bundling.ts's target in step.
      runtime: XP_FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      handler: `${path.basename(BUNDLE_FILE, '.mjs')}.handler`,
      code,
      role: this.role,
      memorySize: props.memorySize ?? 512,
      timeout: this.timeout,
      // Off, no TracingConfig at all (CloudFormation's PassThrough), and no X-Ray permissions on the role.
      ...(props.tracing ?? true ? { tracing: lambda.Tracing.ACTIVE } : {}),
      logGroup: this.logGroup,
      description: props.description ?? `xp ${props.entry}`,
      ...(props.reservedConcurrentExecutions === undefined || props.reservedConcurrentExecutions === null ? {} : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      ...(props.vpc === undefined ? {} : { vpc: props.vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }, securityGroups: [this.securityGroup!] }),
      environment: {
        [EnvVar.Stage]: props.stage,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
    });
    this.function.node.addDependency(this.role);
  }

  /** Sets a variable (for values that are neither tables, streams nor the database). */
  setEnvironment(name: string, value: string): this {
    this.function.addEnvironment(name, value);
    return this;
  }

  /** The rulesets table: `read` (GetItem, Query) or `readWrite` (also PutItem, BatchWriteItem for pruning). */
  bindTable(table: TableRef, access: 'read' | 'readWrite', variable: string = EnvVar.RulesetTable): this {
    const actions = access === 'read' ? ['dynamodb:GetItem', 'dynamodb:Query'] : ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:BatchWriteItem'];
    this.role.addToPolicy(new iam.PolicyStatement({ actions, resources: [table.tableArn] }));
    this.function.addEnvironment(variable, table.tableName);
    return this;
  }

  /** Log groups the function writes to through the CloudWatch Logs API (the log forwarder's targets). */
  bindLogGroups(groups: readonly logs.ILogGroup[]): this {
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: groups.map((g) => g.logGroupArn) }),
    );
    return this;
  }

  /** The event stream as a producer: PutRecords, and the key to encrypt records with. */
  bindStream(stream: StreamRef, variable: string = EnvVar.EventStream): this {
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['kinesis:PutRecords'], resources: [stream.streamArn] }));
    if (stream.encryptionKey !== undefined) {
      this.role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [stream.encryptionKey.keyArn] }));
    }
    this.function.addEnvironment(variable, stream.streamName);
    return this;
  }

  /** The event stream as a consumer: an event source mapping with partial batch responses and the reads it needs. */
  consumeStream(stream: StreamRef, options: StreamConsumerOptions): lambda.EventSourceMapping {
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards', 'kinesis:SubscribeToShard'],
        resources: [stream.streamArn],
      }),
    );
    if (stream.encryptionKey !== undefined) {
      this.role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [stream.encryptionKey.keyArn] }));
    }
    return new lambda.EventSourceMapping(this, 'StreamMapping', {
      target: this.function,
      eventSourceArn: stream.streamArn,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: options.batchSize ?? 500,
      maxBatchingWindow: options.maxBatchingWindow ?? Duration.seconds(5),
      bisectBatchOnError: options.bisectBatchOnError ?? true,
      reportBatchItemFailures: true,
      retryAttempts: options.retryAttempts ?? -1,
      maxRecordAge: options.maxRecordAge,
      // One batch per shard at a time keeps each shard's records in order.
      parallelizationFactor: 1,
      onFailure: new SqsDlq(options.onFailure),
    });
  }

  /**
   * The database: its secret (read once per cold start), network access, and TLS trust for RDS.
   * `connectTimeout`: how long a request waits for the database before it answers 503 itself
   * (XP_DB_CONNECT_TIMEOUT_MS). Unset, the pool's 20 s. Either must be at most half the function's timeout.
   */
  bindDatabase(database: DatabaseBinding, options: { readonly connectTimeout?: Duration } = {}): this {
    if (this.vpc === undefined || this.securityGroup === undefined) {
      throw new Error(`${this.node.path}: a function bound to the database must run in the VPC`);
    }
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [database.secret.secretArn] }));
    // In this function's stack, so the data stack never refers to its consumers.
    new ec2.CfnSecurityGroupIngress(this, 'DatabaseIngress', {
      groupId: database.securityGroupId,
      sourceSecurityGroupId: this.securityGroup.securityGroupId,
      ipProtocol: 'tcp',
      fromPort: database.port,
      toPort: database.port,
      description: `xp ${this.node.id} function`,
    });
    this.function.addEnvironment(EnvVar.DbSecretArn, database.secret.secretArn);
    // The runtime's bundle of RDS certificate authorities (not loaded by default from Node 20 on).
    this.function.addEnvironment('NODE_EXTRA_CA_CERTS', '/var/runtime/ca-cert.pem');
    if (database.host !== undefined) {
      this.function.addEnvironment(EnvVar.DbHost, database.host);
    }
    // The wait, the configured one or the pool's default, is at most half the function's timeout.
    const ms = (options.connectTimeout ?? POOL_CONNECT_TIMEOUT).toMilliseconds();
    if (ms * 2 > this.timeout.toMilliseconds()) {
      const which = options.connectTimeout === undefined ? "the pool's default database connect timeout" : 'the database connect timeout';
      throw new Error(`${this.node.path}: ${which} (${ms} ms) must be at most half the function's timeout (${this.timeout.toSeconds()} s)`);
    }
    if (options.connectTimeout !== undefined) {
      this.function.addEnvironment(EnvVar.DbConnectTimeoutMs, String(ms));
    }
    return this;
  }

  /** Reads one more secret (the first owner's password, the platform key). */
  bindSecret(secret: SecretRef, variable: string): this {
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }));
    this.function.addEnvironment(variable, secret.secretArn);
    return this;
  }

  /** Another function it invokes: its name in `variable`, lambda:InvokeFunction on exactly that function (no versions or aliases). */
  bindInvoke(target: lambda.IFunction, variable: string): this {
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [target.functionArn] }));
    this.function.addEnvironment(variable, target.functionName);
    return this;
  }

  /** CloudWatch GetMetricData for the Health view (the action has no resource-level scoping). */
  grantMetricsRead(): this {
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadMetricsForHealthView', actions: ['cloudwatch:GetMetricData'], resources: ['*'] }));
    return this;
  }
}
