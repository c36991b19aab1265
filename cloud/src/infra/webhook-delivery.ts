import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EnvVar } from '../functions/runtime.js';
import { FunctionEntry } from './bundling.js';
import type { CodeFactory, DatabaseBinding, SecretRef, TableRef } from './xp-function.js';
import { XpFunction } from './xp-function.js';

/** Timings, exported so the tests assert the numbers the construct uses. */
export const WEBHOOK_TIMINGS = {
  /** The sender: the 10 s receiver timeout and margin. */
  senderTimeoutSeconds: 15,
  /** The dispatcher: less DISPATCH_RESERVE_MS (webhook-dispatch.ts) it polls 65 s, past the next invocation's start. */
  dispatcherTimeoutSeconds: 100,
  /** How often the schedule starts a dispatcher. */
  scheduleMinutes: 1,
} as const;

export interface WebhookDeliveryProps {
  readonly stage: string;
  /** X-Ray active tracing of both functions (the configuration's `tracing`). */
  readonly tracing: boolean;
  readonly vpc: ec2.IVpc;
  readonly database: DatabaseBinding;
  /** The rulesets table: only its name, which the dispatcher's shared dependencies require; no access is granted. */
  readonly rulesets: TableRef;
  readonly platformKey: SecretRef;
  readonly logRetention: logs.RetentionDays;
  /** Default: the bundled entry points. */
  readonly code?: CodeFactory;
}

/**
 * Outgoing webhooks on AWS. The sender runs outside the VPC (receivers are on the internet and
 * the VPC has no NAT) with no access to anything: it gets a signed request and returns the
 * outcome. The dispatcher runs in the VPC with the database and the platform key, started every
 * minute; it may invoke only the sender (through the Lambda interface endpoint).
 */
export class WebhookDelivery extends Construct {
  readonly sender: XpFunction;
  readonly dispatcher: XpFunction;
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: WebhookDeliveryProps) {
    super(scope, id);
    const code = props.code === undefined ? {} : { code: props.code };
    this.sender = new XpFunction(this, 'Sender', {
      entry: FunctionEntry.WebhookSender,
      stage: props.stage,
      tracing: props.tracing,
      memorySize: 256,
      timeout: Duration.seconds(WEBHOOK_TIMINGS.senderTimeoutSeconds),
      logRetention: props.logRetention,
      description: 'xp webhook sender: POSTs one signed webhook request (outside the VPC)',
      ...code,
    });

    // Not reserved to one instance: each invocation overlaps the next by a few seconds (claims skip each other's rows).
    this.dispatcher = new XpFunction(this, 'Dispatcher', {
      entry: FunctionEntry.WebhookDispatch,
      stage: props.stage,
      tracing: props.tracing,
      vpc: props.vpc,
      memorySize: 256,
      timeout: Duration.seconds(WEBHOOK_TIMINGS.dispatcherTimeoutSeconds),
      logRetention: props.logRetention,
      description: 'xp webhook dispatcher: sends due webhook deliveries through the sender, records outcomes',
      ...code,
    })
      .bindDatabase(props.database)
      .bindSecret(props.platformKey, EnvVar.PlatformKeySecretArn)
      .bindInvoke(this.sender.function, EnvVar.WebhookSenderFunction)
      .setEnvironment(EnvVar.RulesetTable, props.rulesets.tableName);
    // A tick that failed or waited is not worth running late: the next one comes within a minute.
    this.dispatcher.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(60) });
    this.schedule = new events.Rule(this, 'Schedule', {
      description: 'xp webhook dispatcher every minute',
      schedule: events.Schedule.rate(Duration.minutes(WEBHOOK_TIMINGS.scheduleMinutes)),
      targets: [new targets.LambdaFunction(this.dispatcher.function, { retryAttempts: 0 })],
    });
  }
}
