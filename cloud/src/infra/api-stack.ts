import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { CustomResource, StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { EnvVar } from '../functions/runtime.js';
import { FunctionEntry } from './bundling.js';
import { logRetention } from './config.js';
import type { XpConfig } from './config.js';
import type { DataStack } from './data-stack.js';
import { DatabaseMigrations } from './database-migrations.js';
import { DATABASE_CONNECT_TIMEOUT } from './evaluation-stack.js';
import { bindSso, bindSsoEgress, createSsoEgress } from './sso.js';
import { WebhookDelivery } from './webhook-delivery.js';
import { XpFunction } from './xp-function.js';
import type { CodeFactory } from './xp-function.js';

/** Kept here for importers from before DatabaseMigrations existed. */
export { migrationsDigest } from './database-migrations.js';

export interface ApiStackProps extends StackProps {
  readonly config: XpConfig;
  readonly vpc: ec2.IVpc;
  readonly data: DataStack;
  /** The evaluation function (or its alias) serving /sdk/v1/*, /r/* and /ofrep/v1/*. */
  readonly evaluation: lambda.IFunction;
  readonly code?: CodeFactory;
}

/**
 * The HTTP API: API Gateway (payload v2) in front of the management API function, with the SDK
 * routes going to the evaluation function; stage throttling, JSON access logs and per-route
 * metrics; an optional custom domain. Also the original migrations custom resource, run on every
 * deploy whose migrations changed (after the evaluation stack's, so it finds nothing left to do;
 * kept so existing deployments upgrade without replacing resources), and webhook delivery (the sender and the scheduled dispatcher).
 */
export class ApiStack extends Stack {
  readonly api: XpFunction;
  readonly migrate: XpFunction;
  /** The Custom::XpMigrations resource; the stack's database functions are updated after it. */
  readonly migrations: CustomResource;
  /** The webhook sender (outside the VPC) and dispatcher (scheduled, in the VPC). */
  readonly webhooks: WebhookDelivery;
  /** The SSO egress function (outside the VPC); only with `sso`. */
  readonly ssoEgress: XpFunction | undefined;
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;
  /**
   * What the console's CloudFront distribution sends in the edge token header, so the API function
   * may take the viewer's address from X-Forwarded-For: a random value generated into Secrets
   * Manager on the first deploy (a dynamic reference; nothing derives it from the stack's names or ids).
   */
  readonly edgeToken: string;
  /** The secret holding the edge token (`xp/<stage>/edge-token`). */
  readonly edgeTokenSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config, data, vpc } = props;
    const code = props.code === undefined ? {} : { code: props.code };
    // Not data: deleted with the stack (a new deploy generates a new one, sent and checked alike).
    this.edgeTokenSecret = new secretsmanager.Secret(this, 'EdgeToken', {
      secretName: `xp/${config.stage}/edge-token`,
      description: "xp: the value the console's CloudFront distribution sends in its x-xp-edge origin header; the API then counts logins per viewer address.",
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Resolved by CloudFormation into the function's variable and the distribution's origin header.
    this.edgeToken = this.edgeTokenSecret.secretValue.unsafeUnwrap();

    this.api = new XpFunction(this, 'Api', {
      entry: FunctionEntry.Api,
      stage: config.stage,
      tracing: config.tracing,
      vpc,
      memorySize: 1024,
      // API Gateway gives up after 30 s.
      timeout: Duration.seconds(29),
      logRetention: logRetention(config),
      description: 'xp management API',
      reservedConcurrentExecutions: config.reservedConcurrency.api,
      ...code,
    })
      .bindDatabase(data.database, { connectTimeout: DATABASE_CONNECT_TIMEOUT.api })
      .bindTable(data.rulesets, 'readWrite')
      .grantMetricsRead()
      .setEnvironment(EnvVar.EdgeToken, this.edgeToken);

    this.webhooks = new WebhookDelivery(this, 'Webhooks', {
      stage: config.stage,
      tracing: config.tracing,
      vpc,
      database: data.database,
      rulesets: data.rulesets,
      platformKey: data.platformKeySecret,
      logRetention: logRetention(config),
      ...code,
    });
    // The webhook endpoints need the key; their test sends go out through the sender, as the dispatcher's do.
    this.api.bindSecret(data.platformKeySecret, EnvVar.PlatformKeySecretArn).bindInvoke(this.webhooks.sender.function, EnvVar.WebhookSenderFunction);
    // Single sign-on (the configuration's `sso`): the XP_SSO_* variables, and read access to exactly the client secret.
    bindSso(this.api, config);
    // With `sso`, the API's requests to the IdP (discovery, token, JWKS, userinfo) go out through the egress function.
    this.ssoEgress = createSsoEgress(this, 'SsoEgress', { config, logRetention: logRetention(config), ...code });
    bindSsoEgress(this.api, this.ssoEgress);

    // Created directly on this stack with the ids they have always had (DatabaseMigrations adds no
    // construct of its own), so existing deployments keep these resources. The evaluation stack
    // migrates first (its own DatabaseMigrations, deployed before this stack): on an upgrade this run
    // finds nothing left to do.
    const { migrate, migrations } = new DatabaseMigrations(this, { config, vpc, data, idPrefix: '', ...code });
    this.migrate = migrate;
    // New code must not run against the old schema: CloudFormation updates the functions of this
    // stack that use the database only after the migrations finished. Migrations must still be
    // backward compatible (expand/contract, docs/deploy.md): a rollback puts old code back on the new schema.
    this.migrations = migrations;
    for (const fn of [this.api, this.webhooks.dispatcher]) {
      fn.function.node.addDependency(migrations);
    }

    // One JSON line per request (request id, route, status, latency, caller IP): the platform's API log.
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { logGroupName: `${config.logGroupPrefix}/api`, retention: logRetention(config), removalPolicy: RemovalPolicy.DESTROY });
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `xp-${config.stage}`,
      description: 'xp management API and SDK endpoints',
      defaultIntegration: new HttpLambdaIntegration('Management', this.api.function),
      createDefaultStage: false,
    });
    const sdk = new HttpLambdaIntegration('Sdk', props.evaluation);
    const sdkRoutes = [
      ...this.httpApi.addRoutes({ path: '/sdk/v1/{proxy+}', methods: [apigwv2.HttpMethod.ANY], integration: sdk }),
      ...this.httpApi.addRoutes({ path: '/r/{experimentKey}', methods: [apigwv2.HttpMethod.GET], integration: sdk }),
      // OpenFeature's remote evaluation protocol (OFREP), served beside /sdk/v1 by the same function.
      ...this.httpApi.addRoutes({ path: '/ofrep/v1/{proxy+}', methods: [apigwv2.HttpMethod.ANY], integration: sdk }),
    ];

    const domain =
      config.apiDomain === undefined
        ? undefined
        : new apigwv2.DomainName(this, 'Domain', {
            domainName: config.apiDomain.name,
            certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', config.apiDomain.certificateArn),
          });
    this.stage = new apigwv2.HttpStage(this, 'Stage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.apiThrottle.rate, burstLimit: config.apiThrottle.burst },
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTime',
            method: '$context.httpMethod',
            route: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            bytes: '$context.responseLength',
            error: '$context.integrationErrorMessage',
          }),
        ),
      },
      ...(domain === undefined ? {} : { domainMapping: { domainName: domain } }),
    });
    // The SDK routes throttle in a bucket of their own, so SDK traffic cannot starve the management API.
    // RouteSettings is free-form JSON in the L1: CloudFormation's own (PascalCase) names.
    const sdkLimits = { ThrottlingRateLimit: config.sdkThrottle.rate, ThrottlingBurstLimit: config.sdkThrottle.burst, DetailedMetricsEnabled: true };
    (this.stage.node.defaultChild as apigwv2.CfnStage).routeSettings = { 'ANY /sdk/v1/{proxy+}': sdkLimits, 'GET /r/{experimentKey}': sdkLimits, 'ANY /ofrep/v1/{proxy+}': sdkLimits };
    for (const route of sdkRoutes) {
      this.stage.node.addDependency(route);
    }

    new CfnOutput(this, 'ApiUrl', { value: domain === undefined ? this.httpApi.apiEndpoint : `https://${config.apiDomain!.name}`, description: 'Base URL of the xp API (console, VS Code, SDKs)' });
    if (domain !== undefined) {
      new CfnOutput(this, 'DomainTarget', { value: domain.regionalDomainName, description: 'Point the custom domain (CNAME or alias) here' });
    }
    new CfnOutput(this, 'InitialOwnerPasswordSecret', { value: data.adminSecret.secretName, description: 'Secrets Manager secret holding the first owner password' });
  }
}
