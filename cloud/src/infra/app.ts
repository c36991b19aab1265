/**
 * The CDK app: `cdk synth` / `cdk deploy --all` (see cloud/cdk.json and docs/deploy.md). `buildXp`
 * builds every stack of one stage into an App; tests call it with stub code, the CLI with bundles.
 */
import { fileURLToPath } from 'node:url';
import { Aspects, RemovalPolicy, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { App, Environment, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { App as CdkApp } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApiStack } from './api-stack.js';
import { ConfigError, loadConfig } from './config.js';
import type { XpConfig } from './config.js';
import { ConsoleStack } from './console-stack.js';
import { DataStack } from './data-stack.js';
import { EvaluationStack } from './evaluation-stack.js';
import { suppressAcceptedFindings } from './nag-suppressions.js';
import { NetworkStack } from './network-stack.js';
import { ObservabilityStack } from './observability-stack.js';
import { PipelineStack } from './pipeline-stack.js';
import { bindSharedCache } from './shared-cache.js';
import type { CodeFactory } from './xp-function.js';

export interface XpStacks {
  readonly network: NetworkStack;
  readonly data: DataStack;
  readonly evaluation: EvaluationStack;
  readonly api: ApiStack;
  readonly pipeline: PipelineStack;
  readonly console: ConsoleStack;
  readonly observability: ObservabilityStack;
}

export interface BuildOptions {
  /** Function code; default the esbuild bundles. */
  readonly code?: CodeFactory;
  /** Run the cdk-nag AwsSolutions checks. Default true. */
  readonly nag?: boolean;
}

/** Every stack of one stage, named `xp-<stage>-<part>`. */
export function buildXp(app: App, config: XpConfig, options: BuildOptions = {}): XpStacks {
  const account = config.account ?? process.env.CDK_DEFAULT_ACCOUNT;
  const region = config.region ?? process.env.CDK_DEFAULT_REGION;
  const env: Environment = { ...(account === undefined ? {} : { account }), ...(region === undefined ? {} : { region }) };
  const name = (part: string): string => `xp-${config.stage}-${part}`;
  const common = { config, env };
  const code = options.code === undefined ? {} : { code: options.code };
  const network = new NetworkStack(app, name('network'), { ...common, description: 'xp: VPC, subnets and endpoints' });
  // CDK's optional VPC properties clash with exactOptionalPropertyTypes; a Vpc is an IVpc.
  const vpc = network.vpc as ec2.IVpc;
  const data = new DataStack(app, name('data'), { ...common, vpc, description: 'xp: Aurora, DynamoDB rulesets, Kinesis events' });
  const evaluation = new EvaluationStack(app, name('evaluation'), { ...common, vpc, data, ...code, description: 'xp: SDK evaluation function' });
  const api = new ApiStack(app, name('api'), { ...common, vpc, data, evaluation: evaluation.target, ...code, description: 'xp: HTTP API, management function, migrations' });
  const pipeline = new PipelineStack(app, name('pipeline'), { ...common, vpc, data, ...code, description: 'xp: event aggregator' });
  // The aggregator uses the database: deploy it after the api stack, whose custom resource runs the migrations.
  pipeline.addStackDependency(api, 'the aggregator runs on the schema the api stack migrates');
  const consoleStack = new ConsoleStack(app, name('console'), { ...common, apiEndpoint: api.httpApi.apiEndpoint, edgeToken: api.edgeToken, description: 'xp: console hosting (S3 + CloudFront)' });
  const observability = new ObservabilityStack(app, name('observability'), { ...common, vpc, data, api, evaluation, pipeline, ...code, description: 'xp: alarms, dashboards, alarm-driven rollback' });
  const stacks: XpStacks = { network, data, evaluation, api, pipeline, console: consoleStack, observability };
  if (data.sharedCache !== undefined) {
    // The functions that rate-limit logins (api) and evaluate with sticky bucketing (evaluation).
    bindSharedCache(evaluation.evaluation, data.sharedCache);
    bindSharedCache(api.api, data.sharedCache);
  }
  for (const stack of [network, data, evaluation, api, pipeline, consoleStack, observability]) {
    Tags.of(stack).add('xp:stage', config.stage);
    if (config.removalPolicy === 'retain') {
      retainFunctionLogs(stack);
    }
    if (config.permissionsBoundary !== undefined) {
      // Every role the stack creates (CDK's own custom-resource roles too) stays within the boundary
      // a bootstrap with a permissions boundary requires (docs/deploy.md#continuous-deployment).
      iam.PermissionsBoundary.of(stack).apply(iam.ManagedPolicy.fromManagedPolicyName(stack, 'PermissionsBoundary', config.permissionsBoundary));
    }
  }
  suppressAcceptedFindings(stacks);
  if (options.nag ?? true) {
    Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  }
  return stacks;
}

/**
 * A retained stage keeps its functions' logs as it keeps its data: every log group of the stack
 * without a fixed name (each function's own, the migrations provider's, the archive delivery's)
 * survives the stack. The named platform groups (`<prefix>/api`, `/services`, `/errors`) are still
 * deleted with their stacks, so deploying the stage again can create them again.
 */
export function retainFunctionLogs(stack: Stack): void {
  for (const node of stack.node.findAll()) {
    // An unnamed LogGroup's name is a token that resolves to nothing (CloudFormation generates the name).
    if (node instanceof logs.CfnLogGroup && stack.resolve(node.logGroupName) === undefined) {
      node.applyRemovalPolicy(RemovalPolicy.RETAIN);
    }
  }
}

/** `node dist/infra/app.js` as the CDK CLI runs it. */
function main(): void {
  const app = new CdkApp();
  let config: XpConfig;
  try {
    config = loadConfig((key) => app.node.tryGetContext(key));
  } catch (e) {
    if (!(e instanceof ConfigError)) {
      throw e;
    }
    // A mistake in the configuration: its message says what to fix; a stack trace would only hide it.
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  }
  buildXp(app, config);
  app.synth();
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main();
}

export type { XpConfig };
