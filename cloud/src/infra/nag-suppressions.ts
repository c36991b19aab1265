/**
 * The cdk-nag AwsSolutions findings this design accepts, each with its reason. Anything not listed
 * here fails the tests (and synth), so a new finding is either fixed or argued for in this file.
 */
import type { Stack } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import type { NagPackSuppression } from 'cdk-nag';
import type { XpStacks } from './app.js';
import type { XpFunction } from './xp-function.js';

/** Actions that take no resource-level scoping, which our own roles may therefore hold on "*". */
export const ACTIONS_WITHOUT_RESOURCE_SCOPE: Readonly<Record<string, string>> = {
  'xray:PutTraceSegments': 'X-Ray trace ingestion has no resource-level permissions',
  'xray:PutTelemetryRecords': 'X-Ray telemetry has no resource-level permissions',
  'ec2:CreateNetworkInterface': "Lambda's VPC interfaces do not exist before the function runs, so there is no ARN to name",
  'ec2:DescribeNetworkInterfaces': 'EC2 Describe* actions have no resource-level permissions',
  'ec2:DeleteNetworkInterface': "Lambda's VPC interfaces do not exist before the function runs, so there is no ARN to name",
  'ec2:AssignPrivateIpAddresses': "Lambda's VPC interfaces do not exist before the function runs, so there is no ARN to name",
  'ec2:UnassignPrivateIpAddresses': "Lambda's VPC interfaces do not exist before the function runs, so there is no ARN to name",
  'cloudwatch:GetMetricData': 'GetMetricData has no resource-level permissions (the Health view reads xp metrics only, by query)',
};

const FUNCTION_WILDCARD_REASON = `Resource "*" only for actions without resource-level permissions: ${Object.keys(ACTIONS_WITHOUT_RESOURCE_SCOPE).join(', ')}. Every data-plane grant (DynamoDB, Kinesis, Secrets Manager, SQS, logs) names its resource; the IAM scan in the tests enforces both.`;

function forFunction(fn: XpFunction): void {
  NagSuppressions.addResourceSuppressions(fn.role, [{ id: 'AwsSolutions-IAM5', reason: FUNCTION_WILDCARD_REASON, appliesTo: ['Resource::*'] }], true);
  NagSuppressions.addResourceSuppressions(fn.function, [
    { id: 'AwsSolutions-L1', reason: 'Pinned to Node.js 24 (nodejs24.x, deprecated by Lambda on 2028-04-30; the bundle targets node24): a newer runtime is adopted deliberately, with the bundle target, not on every CDK upgrade.' },
  ]);
}

function stack(s: Stack, suppressions: NagPackSuppression[]): void {
  NagSuppressions.addStackSuppressions(s, suppressions, true);
}

export function suppressAcceptedFindings(stacks: XpStacks): void {
  for (const fn of [stacks.api.api, stacks.api.migrate, stacks.evaluation.evaluation, stacks.evaluation.migrate, stacks.pipeline.aggregator, stacks.observability.rollback, stacks.observability.guardrailCheck, stacks.observability.logForwarder, stacks.api.webhooks.sender, stacks.api.webhooks.dispatcher, ...(stacks.api.ssoEgress === undefined ? [] : [stacks.api.ssoEgress])]) {
    forFunction(fn);
  }
  stack(stacks.network, [
    {
      id: 'CdkNagValidationFailure',
      reason: "EC23 cannot resolve the interface endpoints' ingress source, which is the VPC's own CIDR block (a CloudFormation reference); nothing outside the VPC can reach them.",
    },
  ]);
  stack(stacks.data, [
    {
      id: 'AwsSolutions-SMG4',
      reason:
        'Functions read the database credentials once per cold start and keep pooled connections; rotating under them would fail new connections until every instance restarts. Rotate by redeploying (docs/deploy.md: the migrations set the application user password from its secret), or enable RDS Proxy, which re-reads the secret. The initial owner password is changed by the owner after first login. The platform key must never change: webhook signing secrets derive from it and webhook URLs are encrypted under it.',
    },
    { id: 'AwsSolutions-SQS3', reason: 'This queue is itself the dead-letter (on-failure) destination of the aggregator event source mapping.' },
  ]);
  NagSuppressions.addResourceSuppressions(stacks.api.edgeTokenSecret, [
    {
      id: 'AwsSolutions-SMG4',
      reason: "The edge token is resolved at deploy time into the API function's variable and the CloudFront origin header; a rotation would make the two disagree until both were redeployed. It guards only which address login throttling counts (docs/deploy.md), not access.",
    },
  ]);
  stack(stacks.api, [
    {
      id: 'AwsSolutions-APIG4',
      reason: 'The application authenticates every route itself: bearer tokens (sessions, personal access tokens) for /api/v1, SDK keys in a header for /sdk/v1; only health, OpenAPI and docs are public by design.',
    },
  ]);
  // The provider framework of each migrations custom resource: the api stack's, and the evaluation
  // stack's that runs first (DatabaseMigrations, idPrefix 'Early'). The same findings, for the same reasons.
  for (const [owner, provider] of [[stacks.api, 'MigrationsProvider'], [stacks.evaluation, 'EarlyMigrationsProvider']] as const) {
    NagSuppressions.addResourceSuppressionsByPath(
      owner,
      `/${owner.stackName}/${provider}/framework-onEvent`,
      [
        { id: 'AwsSolutions-IAM4', reason: "CDK's custom-resource provider framework function uses AWSLambdaBasicExecutionRole (its own log writes only)." },
        { id: 'AwsSolutions-IAM5', reason: 'The provider framework may invoke the migrations function and its versions (function ARN and ARN:*), nothing else.' },
        { id: 'AwsSolutions-L1', reason: "The provider framework's runtime is chosen by CDK." },
      ],
      true,
    );
  }
  NagSuppressions.addResourceSuppressions(stacks.observability.rollbackFailures, [
    { id: 'AwsSolutions-SQS3', reason: "This queue is itself the dead-letter queue of the guardrail topic's subscription and the alarm-rollback function's on-failure destination." },
  ]);
  NagSuppressions.addResourceSuppressions(stacks.pipeline.archive.deliveryStream, [
    {
      id: 'AwsSolutions-KDF1',
      reason: 'Firehose cannot apply server-side encryption to a delivery stream whose source is a Kinesis stream; the source stream is KMS-encrypted and the bucket encrypts every object (SSE-S3), TLS-only.',
    },
  ]);
  NagSuppressions.addResourceSuppressions(
    stacks.pipeline.archive,
    [{ id: 'AwsSolutions-IAM5', reason: 'Firehose writes objects it names itself under archive/ in the one archive bucket; object ARNs cannot be listed in advance.', appliesTo: [{ regex: '/^Resource::<EventArchiveBucket[0-9A-F]+\\.Arn>\\/archive\\/\\*$/' }] }],
    true,
  );
  stack(stacks.console, [
    { id: 'AwsSolutions-CFR1', reason: 'The console serves every country the operator serves; restrict with a geo restriction if required.' },
    { id: 'AwsSolutions-CFR2', reason: 'The distribution serves a static app and proxies an API that authenticates every call; a WAF web ACL (about $5/month plus rules) is optional.' },
  ]);
  if (stacks.console.domainName === undefined) {
    // With consoleDomain the distribution has its own certificate and requires TLSv1.2_2021: nothing to suppress.
    stack(stacks.console, [
      { id: 'AwsSolutions-CFR4', reason: 'With the default *.cloudfront.net certificate CloudFront negotiates TLSv1 minimum; TLSv1.2_2021 needs a custom console domain with its own ACM certificate (the consoleDomain setting, recommended for production; not configured here).' },
    ]);
  }
}
