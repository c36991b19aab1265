import { Duration, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { FunctionEntry } from './bundling.js';
import { logRetention } from './config.js';
import type { XpConfig } from './config.js';
import type { DataStack } from './data-stack.js';
import { XpFunction } from './xp-function.js';
import type { CodeFactory } from './xp-function.js';

export interface EvaluationStackProps extends StackProps {
  readonly config: XpConfig;
  readonly vpc: ec2.IVpc;
  readonly data: DataStack;
  readonly code?: CodeFactory;
}

/**
 * The latency-optimised SDK function (/sdk/v1/*, /r/*): 1 GB for the CPU that comes with it, read-only
 * access to rulesets, write access to the event stream, and optional provisioned concurrency.
 */
export class EvaluationStack extends Stack {
  readonly evaluation: XpFunction;
  /** What API Gateway invokes: the `live` alias when concurrency is provisioned, else the function. */
  readonly target: lambda.IFunction;

  constructor(scope: Construct, id: string, props: EvaluationStackProps) {
    super(scope, id, props);
    const { config, data } = props;
    this.evaluation = new XpFunction(this, 'Evaluation', {
      entry: FunctionEntry.Evaluation,
      stage: config.stage,
      vpc: props.vpc,
      memorySize: 1024,
      timeout: Duration.seconds(10),
      logRetention: logRetention(config),
      description: 'xp SDK endpoints: ruleset, evaluate, events, split-URL redirect',
      ...(props.code === undefined ? {} : { code: props.code }),
    })
      .bindDatabase(data.database)
      .bindTable(data.rulesets, 'read')
      .bindStream(data.events);
    if (config.evaluationProvisionedConcurrency > 0) {
      const alias = new lambda.Alias(this, 'Live', {
        aliasName: 'live',
        version: this.evaluation.function.currentVersion as lambda.IVersion,
        provisionedConcurrentExecutions: config.evaluationProvisionedConcurrency,
      });
      // CDK's optional `role` clashes with exactOptionalPropertyTypes; an alias is an IFunction.
      this.target = alias as lambda.IFunction;
    } else {
      this.target = this.evaluation.function;
    }
  }
}
