import { CfnOutput, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { EDGE_TOKEN_HEADER } from '../functions/runtime.js';
import { CONSOLE_CSP } from '@xp/shared';
import type { XpConfig } from './config.js';

export interface ConsoleStackProps extends StackProps {
  readonly config: XpConfig;
  /** `https://<id>.execute-api.<region>.amazonaws.com`, proxied under the console's own origin. */
  readonly apiEndpoint: string;
  /** Sent to the API in the edge token header, so it reads the viewer's address, not CloudFront's. */
  readonly edgeToken: string;
}

/** Paths CloudFront sends to the API, so the web console calls it same-origin (no CORS). */
export const API_PATHS = ['/api/*', '/sdk/*', '/ofrep/*', '/r/*', '/openapi.json', '/docs', '/docs/*', '/healthz'] as const;

/**
 * The web build of the console: a private S3 bucket behind CloudFront (origin access control),
 * HTTPS only, the local console server's CSP and security headers, access logs to a log bucket.
 * The deploy script uploads the build (`aws s3 sync`); CloudFront also proxies the API paths.
 */
export class ConsoleStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  /** The console's custom domain (consoleDomain), served with its own certificate and TLS 1.2 at least. */
  readonly domainName: string | undefined;

  constructor(scope: Construct, id: string, props: ConsoleStackProps) {
    super(scope, id, props);
    const removalPolicy = props.config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    // CDK's optional `isWebsite` clashes with exactOptionalPropertyTypes; a Bucket is an IBucket.
    const logs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      // CloudFront standard logging writes with ACLs.
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
    });
    this.bucket = new s3.Bucket(this, 'Site', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      serverAccessLogsBucket: logs as s3.IBucket,
      serverAccessLogsPrefix: 'site/',
      removalPolicy,
    });
    const apiOrigin = new origins.HttpOrigin(Fn.select(2, Fn.split('/', props.apiEndpoint)), {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      customHeaders: { [EDGE_TOKEN_HEADER]: props.edgeToken },
    });
    // Never cached, with every query string, cookie and header but Host: the SSO callback
    // (/api/v1/auth/sso/callback?code=…&state=…) needs its query string and the xp_sso cookie, and
    // its redirects and Set-Cookie must reach the browser as the API sent them.
    const apiBehavior: cloudfront.BehaviorOptions = {
      origin: apiOrigin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
    };
    // The local console server's CSP (one constant), with the framing, transport and referrer headers.
    const consoleHeaders = new cloudfront.ResponseHeadersPolicy(this, 'ConsoleHeaders', {
      comment: `xp console pages (${props.config.stage}): CSP, HSTS, no framing, no referrer`,
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: CONSOLE_CSP, override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: false, override: true },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
    // Swagger UI (/docs) is a page of this origin too and runs under the same CSP (its scripts are
    // files, its styles partly inline); the other API paths keep the API's own headers (/r/* must
    // not get a Referrer-Policy).
    const docsBehavior: cloudfront.BehaviorOptions = { ...apiBehavior, responseHeadersPolicy: consoleHeaders };
    const behaviorOf = (path: (typeof API_PATHS)[number]): cloudfront.BehaviorOptions => (path === '/docs' || path === '/docs/*' ? docsBehavior : apiBehavior);
    const domain = props.config.consoleDomain;
    this.domainName = domain?.name;
    this.distribution = new cloudfront.Distribution(this, 'Cdn', {
      comment: `xp console (${props.config.stage})`,
      // A custom domain brings its own certificate, so viewers must speak TLS 1.2 or later (with the
      // default *.cloudfront.net certificate CloudFront allows TLS 1.0, and logins go through here).
      ...(domain === undefined
        ? {}
        : {
            domainNames: [domain.name],
            certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
            minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            sslSupportMethod: cloudfront.SSLMethod.SNI,
          }),
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket as s3.IBucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: consoleHeaders,
      },
      additionalBehaviors: Object.fromEntries(API_PATHS.map((p) => [p, behaviorOf(p)])),
      // No error-page rewrite: the console routes after "#" (every screen is /index.html), and a
      // distribution-wide 403 → index.html rule also turned the API's 403s (FORBIDDEN,
      // APPROVAL_REQUIRED) reached through this origin into 200 HTML pages.
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: logs as s3.IBucket,
      logFilePrefix: 'cdn/',
    });
    new CfnOutput(this, 'ConsoleUrl', { value: `https://${domain?.name ?? this.distribution.distributionDomainName}`, description: 'The web console (and the API under the same origin)' });
    if (domain !== undefined) {
      new CfnOutput(this, 'ConsoleDomainTarget', { value: this.distribution.distributionDomainName, description: 'Point the console domain (CNAME, or a Route 53 alias) here' });
    }
    new CfnOutput(this, 'ConsoleBucket', { value: this.bucket.bucketName, description: 'Upload the console web build here' });
    new CfnOutput(this, 'ConsoleDistributionId', { value: this.distribution.distributionId, description: 'Invalidate after uploading a new build' });
  }
}
