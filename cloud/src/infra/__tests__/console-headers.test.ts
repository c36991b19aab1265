import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleApp } from '../../local/console-server.js';
import { parseConfig } from '../config.js';
import { ConsoleStack } from '../console-stack.js';

/** The policy the review asked for, written out: a change to the shared constant must change this test too. */
const EXPECTED_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface Behavior {
  readonly PathPattern?: string;
  readonly ResponseHeadersPolicyId?: unknown;
}
interface HeadersPolicy {
  readonly ResponseHeadersPolicyConfig: {
    readonly SecurityHeadersConfig: {
      readonly ContentSecurityPolicy?: { ContentSecurityPolicy: string; Override: boolean };
      readonly FrameOptions?: { FrameOption: string; Override: boolean };
      readonly StrictTransportSecurity?: { AccessControlMaxAgeSec: number; Override: boolean };
      readonly ContentTypeOptions?: { Override: boolean };
      readonly ReferrerPolicy?: { ReferrerPolicy: string; Override: boolean };
    };
  };
}

describe("the web console's CloudFront response headers", () => {
  let defaultBehavior: Behavior;
  let behaviors: Behavior[];
  let policies: Record<string, { Properties: HeadersPolicy }>;
  let dir: string;

  /** The console stack's own ResponseHeadersPolicy a behaviour refers to (a managed policy is a bare id, not a Ref). */
  const policyOf = (b: Behavior | undefined): HeadersPolicy | undefined => {
    const ref = (b?.ResponseHeadersPolicyId as { Ref?: string } | undefined)?.Ref;
    return ref === undefined ? undefined : policies[ref]?.Properties;
  };

  beforeAll(async () => {
    // The console stack alone (the whole app takes most of a minute to synthesize); its API endpoint as the API stack passes it.
    const config = parseConfig({ account: '123456789012', region: 'eu-west-1', alarmEmail: 'ops@example.com' });
    const stack = new ConsoleStack(new App(), 'xp-dev-console', { config, apiEndpoint: 'https://abc123.execute-api.eu-west-1.amazonaws.com', edgeToken: 'edge-token' });
    const t = Template.fromStack(stack);
    const [distribution] = Object.values(t.findResources('AWS::CloudFront::Distribution')) as { Properties: { DistributionConfig: { DefaultCacheBehavior: Behavior; CacheBehaviors: Behavior[] } } }[];
    defaultBehavior = distribution!.Properties.DistributionConfig.DefaultCacheBehavior;
    behaviors = distribution!.Properties.DistributionConfig.CacheBehaviors;
    policies = t.findResources('AWS::CloudFront::ResponseHeadersPolicy') as Record<string, { Properties: HeadersPolicy }>;
    dir = await mkdtemp(path.join(tmpdir(), 'xp-console-csp-'));
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>xp console</title>');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("sends the console's pages the exact CSP, no framing, HSTS, nosniff and no referrer", () => {
    const headers = policyOf(defaultBehavior)?.ResponseHeadersPolicyConfig.SecurityHeadersConfig;

    expect(headers?.ContentSecurityPolicy).toEqual({ ContentSecurityPolicy: EXPECTED_CSP, Override: true });
    expect(headers?.FrameOptions).toEqual({ FrameOption: 'DENY', Override: true });
    expect(headers?.StrictTransportSecurity).toMatchObject({ AccessControlMaxAgeSec: 365 * 24 * 3600, Override: true });
    expect(headers?.ContentTypeOptions).toEqual({ Override: true });
    expect(headers?.ReferrerPolicy).toEqual({ ReferrerPolicy: 'no-referrer', Override: true });
  });

  it('holds Swagger UI (/docs) to the same policy and leaves the other API paths their own headers', () => {
    const byPath = new Map(behaviors.map((b) => [b.PathPattern, b]));

    expect(byPath.get('/docs')?.ResponseHeadersPolicyId).toEqual(defaultBehavior.ResponseHeadersPolicyId);
    expect(byPath.get('/docs/*')?.ResponseHeadersPolicyId).toEqual(defaultBehavior.ResponseHeadersPolicyId);
    // The split-URL redirect must not get a Referrer-Policy (the API leaves it out on purpose).
    expect(byPath.get('/r/*')?.ResponseHeadersPolicyId).toBeUndefined();
    expect(byPath.get('/api/*')?.ResponseHeadersPolicyId).toBeUndefined();
  });

  it('sends the same CSP as the local console server (xp start)', async () => {
    const local = createConsoleApp({ api: new Hono(), apiUrl: 'http://127.0.0.1:8000', rendererDir: dir });
    const res = await local.request('/');

    expect(res.headers.get('content-security-policy')).toBe(EXPECTED_CSP);
    expect(policyOf(defaultBehavior)?.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy?.ContentSecurityPolicy).toBe(res.headers.get('content-security-policy'));
  });
});
