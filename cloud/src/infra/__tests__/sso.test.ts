/**
 * Single sign-on on AWS: the configuration's `sso` block refused at synth with the setting named,
 * the management API function's XP_SSO_* variables and its read access to exactly the client
 * secret, and the console distribution passing the callback's query string and cookie to the API.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../config.js';
import type { XpConfigInput } from '../config.js';
import { ConsoleStack } from '../console-stack.js';
import { FunctionEntry } from '../bundling.js';
import { bindSso } from '../sso.js';
import { XpFunction } from '../xp-function.js';
import { policyStatements, wildcardViolations } from './iam-scan.js';
import { asStack, stubCode, synthXp } from './synth-helpers.js';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:xp/prod/sso-client-Ab12Cd';
const CLOUDFRONT_CALLBACK = 'https://d111111abcdef8.cloudfront.net/api/v1/auth/sso/callback';
const base = { account: '123456789012', region: 'eu-west-1', alarmEmail: 'ops@example.com' } as const;
const CONSOLE_DOMAIN = { name: 'console.example.com', certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc-123' };
const FULL_SSO: NonNullable<XpConfigInput['sso']> = {
  issuer: 'https://example.okta.com',
  clientId: '0oa1b2c3d4',
  clientSecretArn: SECRET_ARN,
  name: 'Okta',
  allowedDomains: ['example.com', 'example.org'],
  defaultRole: 'analyst',
  groupsClaim: 'groups',
  roleMap: { 'xp admins': 'admin', 'xp-editors': 'editor' },
  enforced: true,
  linkOwners: true,
  roleMapAuthoritative: true,
};

/** The problems parseConfig names for `input` (one "path: message" line each), or 'accepted'. */
function problems(input: XpConfigInput): string[] | 'accepted' {
  try {
    parseConfig({ ...base, ...input });
  } catch (e) {
    if (!(e instanceof ConfigError)) {
      throw e;
    }
    return e.message.split('\n').slice(1).map((l) => l.trim());
  }
  return 'accepted';
}

/** The management API function's variables and the IAM statements of the api stack. */
function apiOf(template: Template): { variables: Record<string, unknown>; secretReads: unknown[] } {
  const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'xp management API' } })) as { Properties: { Environment: { Variables: Record<string, unknown> } } }[];
  const secretReads = policyStatements({ api: template })
    .filter((s) => s.actions.includes('secretsmanager:GetSecretValue'))
    .flatMap((s) => s.resources);
  return { variables: fn!.Properties.Environment.Variables, secretReads };
}

const ssoVariables = (variables: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(variables).filter(([k]) => k.startsWith('XP_SSO_')));

describe('the sso configuration', () => {
  it('accepts a complete block, and a public client with only issuer, client id and redirect URL', () => {
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: FULL_SSO })).toBe('accepted');
    expect(problems({ sso: { issuer: 'https://login.example.com/realms/xp', clientId: 'xp', redirectUrl: CLOUDFRONT_CALLBACK } })).toBe('accepted');
  });

  it('refuses an issuer that is not https, naming sso.issuer', () => {
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, issuer: 'http://example.okta.com' } })).toEqual([
      "sso.issuer: an https URL without query or fragment: the IdP's issuer, e.g. https://example.okta.com",
    ]);
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, issuer: 'example.okta.com' } })).toEqual([expect.stringMatching(/^sso\.issuer: an https URL/)]);
  });

  it('refuses owner and unknown roles, as the default role or in the role map', () => {
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, defaultRole: 'owner' as 'admin' } })).toEqual(['sso.defaultRole: one of viewer, analyst, editor, admin (never owner)']);
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, roleMap: { 'xp admins': 'superuser' as 'admin' } } })).toEqual(['sso.roleMap.xp admins: one of viewer, analyst, editor, admin (never owner)']);
  });

  it('refuses a role map without its groups claim, group names the variable cannot carry, and an empty map', () => {
    const { groupsClaim: _claim, ...withoutClaim } = FULL_SSO;

    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: withoutClaim })).toEqual([
      'sso.groupsClaim: groupsClaim and roleMap go together: the claim holding the groups, and the role of each group',
    ]);
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, roleMap: { 'a,b': 'admin', 'c=d': 'editor' } } })).toEqual([
      'sso.roleMap.a,b: a group name must be non-empty, without commas, equals signs or leading or trailing spaces',
      'sso.roleMap.c=d: a group name must be non-empty, without commas, equals signs or leading or trailing spaces',
    ]);
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, roleMap: {} } })).toEqual(['sso.roleMap: map at least one group to a role, or leave roleMap out']);
  });

  it('refuses an authoritative role map without a role map', () => {
    const { groupsClaim: _claim, roleMap: _map, ...withoutMap } = FULL_SSO;

    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: withoutMap })).toEqual(['sso.roleMapAuthoritative: needs roleMap: without a map every SSO sign-in would reset the person to the default role']);
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...withoutMap, roleMapAuthoritative: false } })).toBe('accepted');
  });

  it('refuses a secret ARN without its suffix, of another service, or of another region or account', () => {
    const arn = (clientSecretArn: string): string[] | 'accepted' => problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, clientSecretArn } });
    const shape = "sso.clientSecretArn: the secret's complete ARN, as `aws secretsmanager describe-secret` prints it: arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf, with the 6-character suffix";

    expect(arn('arn:aws:secretsmanager:eu-west-1:123456789012:secret:xp/prod/sso')).toEqual([shape]);
    expect(arn('arn:aws:secretsmanager:eu-west-1:123456789012:secret:*')).toEqual([shape]);
    expect(arn('arn:aws:ssm:eu-west-1:123456789012:parameter/sso-Ab12Cd')).toEqual([shape]);
    expect(arn('my-client-secret')).toEqual([shape]);
    expect(arn('arn:aws:secretsmanager:us-east-1:123456789012:secret:xp/prod/sso-client-Ab12Cd')).toEqual([
      "sso.clientSecretArn: must be a secret in the stage's own account and region (123456789012, eu-west-1): the API function reads it through the VPC's Secrets Manager endpoint",
    ]);
    expect(arn('arn:aws:secretsmanager:eu-west-1:210987654321:secret:xp/prod/sso-client-Ab12Cd')).toEqual([expect.stringMatching(/^sso\.clientSecretArn: must be a secret in the stage's own account/)]);
  });

  it('needs the redirect URL without a console domain, and refuses one off the console origin or path', () => {
    const sso = FULL_SSO;

    expect(problems({ sso })).toEqual([
      'sso.redirectUrl: required without consoleDomain: the console\'s *.cloudfront.net name is known only after its first deploy; deploy once without "sso", then set it to the ConsoleUrl output followed by /api/v1/auth/sso/callback',
    ]);
    // The API's own domain serves the route, but the callback's redirect to / must land on the console.
    expect(problems({ sso: { ...sso, redirectUrl: 'https://xp.example.com/api/v1/auth/sso/callback' } })).toEqual([
      "sso.redirectUrl: must be on the console's origin (its *.cloudfront.net name, the ConsoleUrl output), which serves the console the callback returns to; not xp.example.com",
    ]);
    expect(problems({ sso: { ...sso, redirectUrl: 'https://d111111abcdef8.cloudfront.net/callback' } })).toEqual([expect.stringMatching(/^sso\.redirectUrl: an https URL ending in \/api\/v1\/auth\/sso\/callback/)]);
    expect(problems({ sso: { ...sso, redirectUrl: 'http://d111111abcdef8.cloudfront.net/api/v1/auth/sso/callback' } })).toEqual([expect.stringMatching(/^sso\.redirectUrl: an https URL/)]);
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...sso, redirectUrl: 'https://console.example.com/api/v1/auth/sso/callback' } })).toBe('accepted');
  });

  it("refuses what the API's own parser would refuse at its start (a label with no visible character)", () => {
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, name: '\u200b' } })).toEqual(['sso: the API would refuse these settings at its start: XP_SSO_NAME: must contain a visible character']);
  });

  it('refuses a domain that is not a lower-case e-mail domain and unknown fields', () => {
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, allowedDomains: ['@example.com'] } })).toEqual(['sso.allowedDomains.0: a lower-case e-mail domain such as example.com']);
    expect(problems({ consoleDomain: CONSOLE_DOMAIN, sso: { ...FULL_SSO, clientSecret: 'shh' } as unknown as XpConfigInput['sso'] })).toEqual([expect.stringMatching(/^sso: Unrecognized key: "clientSecret"/)]);
  });
});

describe('bindSso on a function', () => {
  const bound = (input: XpConfigInput): Template => {
    const stack = new Stack(new App(), 'Sso', { env: { account: base.account, region: base.region } });
    const fn = new XpFunction(stack, 'Api', { entry: FunctionEntry.Api, stage: 'dev', code: stubCode });
    bindSso(fn, parseConfig({ ...base, ...input }));
    return Template.fromStack(stack);
  };
  const variablesOf = (t: Template): Record<string, unknown> =>
    (Object.values(t.findResources('AWS::Lambda::Function'))[0] as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables;

  it('gives a public client its variables and no secret, and leaves unset settings to the API defaults', () => {
    const t = bound({ sso: { issuer: 'https://login.example.com/realms/xp', clientId: 'xp', redirectUrl: CLOUDFRONT_CALLBACK } });

    expect(ssoVariables(variablesOf(t))).toEqual({
      XP_SSO_ISSUER: 'https://login.example.com/realms/xp',
      XP_SSO_CLIENT_ID: 'xp',
      XP_SSO_REDIRECT_URL: CLOUDFRONT_CALLBACK,
      XP_SSO_ENFORCED: 'false',
    });
    expect(policyStatements({ sso: t }).filter((s) => s.actions.some((a) => a.startsWith('secretsmanager:')))).toEqual([]);
  });

  it('sets nothing without sso', () => {
    expect(ssoVariables(variablesOf(bound({})))).toEqual({});
  });
});

describe('the CDK app with and without sso', () => {
  let without: ReturnType<typeof apiOf>;
  let withSso: ReturnType<typeof apiOf>;
  let withSsoTemplate: Template;

  beforeAll(() => {
    without = apiOf(Template.fromStack(asStack(synthXp({}, { nag: false }).stacks.api)));
    withSsoTemplate = Template.fromStack(asStack(synthXp({ consoleDomain: CONSOLE_DOMAIN, sso: FULL_SSO }, { nag: false }).stacks.api));
    withSso = apiOf(withSsoTemplate);
  }, 120_000);

  it('gives the API function no XP_SSO_* variable and no other secret without sso', () => {
    expect(ssoVariables(without.variables)).toEqual({});
    expect(without.secretReads).not.toContain(SECRET_ARN);
  });

  it("gives the API function every XP_SSO_* variable, the redirect URL on the console's domain", () => {
    expect(ssoVariables(withSso.variables)).toEqual({
      XP_SSO_ISSUER: 'https://example.okta.com',
      XP_SSO_CLIENT_ID: '0oa1b2c3d4',
      XP_SSO_CLIENT_SECRET_ARN: SECRET_ARN,
      XP_SSO_REDIRECT_URL: 'https://console.example.com/api/v1/auth/sso/callback',
      XP_SSO_NAME: 'Okta',
      XP_SSO_ALLOWED_DOMAINS: 'example.com,example.org',
      XP_SSO_DEFAULT_ROLE: 'analyst',
      XP_SSO_GROUPS_CLAIM: 'groups',
      XP_SSO_ROLE_MAP: 'xp admins=admin,xp-editors=editor',
      XP_SSO_ENFORCED: 'true',
      XP_SSO_LINK_OWNERS: 'true',
      XP_SSO_ROLE_MAP_AUTHORITATIVE: 'true',
      // The SSO egress function's name (sso-egress.test.ts): the API's way to the IdP from the VPC.
      XP_SSO_EGRESS_FUNCTION: { Ref: expect.stringMatching(/^SsoEgress/) },
    });
  });

  it('grants GetSecretValue on exactly the client secret, one statement more than without sso, and never puts its value in the template', () => {
    const statements = policyStatements({ api: withSsoTemplate }).filter((s) => s.resources.includes(SECRET_ARN));

    expect(statements).toEqual([expect.objectContaining({ actions: ['secretsmanager:GetSecretValue'], resources: [SECRET_ARN], effect: 'Allow' })]);
    expect(withSso.secretReads).toHaveLength(without.secretReads.length + 1);
    expect(withSso.secretReads).toEqual(expect.arrayContaining([...without.secretReads, SECRET_ARN]));
    expect(wildcardViolations(policyStatements({ api: withSsoTemplate }))).toEqual([]);
    expect(JSON.stringify(withSsoTemplate.toJSON())).not.toMatch(/resolve:secretsmanager:arn:aws:secretsmanager:[^"]*sso-client/);
  });
});

describe("the console distribution's SSO paths", () => {
  interface Behavior {
    readonly PathPattern: string;
    readonly TargetOriginId: string;
    readonly CachePolicyId?: string;
    readonly OriginRequestPolicyId?: string;
    readonly AllowedMethods?: string[];
  }
  // AWS managed policies (documented ids): CachingDisabled caches nothing; AllViewerExceptHostHeader
  // sends the origin every query string, every cookie and every viewer header but Host.
  const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
  const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';
  let behaviors: Behavior[];
  let apiOriginId: string;

  /** The behaviour CloudFront picks for `path`: the first whose pattern matches, in order. */
  const behaviorFor = (path: string): Behavior | undefined =>
    behaviors.find((b) => new RegExp(`^${b.PathPattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(path));

  beforeAll(() => {
    const config = parseConfig({ ...base, consoleDomain: CONSOLE_DOMAIN, sso: FULL_SSO });
    const t = Template.fromStack(new ConsoleStack(new App(), 'xp-dev-console', { config, apiEndpoint: 'https://abc123.execute-api.eu-west-1.amazonaws.com', edgeToken: 'edge-token' }));
    const [distribution] = Object.values(t.findResources('AWS::CloudFront::Distribution')) as {
      Properties: { DistributionConfig: { CacheBehaviors: Behavior[]; Origins: { Id: string; DomainName: unknown; CustomOriginConfig?: unknown }[] } };
    }[];
    behaviors = distribution!.Properties.DistributionConfig.CacheBehaviors;
    apiOriginId = distribution!.Properties.DistributionConfig.Origins.find((o) => o.CustomOriginConfig !== undefined)!.Id;
  });

  it.each(['/api/v1/auth/sso/callback', '/api/v1/auth/sso/start', '/api/v1/auth/sso/exchange', '/api/v1/auth/sso'])(
    'sends %s to the API uncached, with its query string and cookies (xp_sso)',
    (path) => {
      const behavior = behaviorFor(path);

      expect(behavior?.TargetOriginId).toBe(apiOriginId);
      expect(behavior?.CachePolicyId).toBe(CACHING_DISABLED);
      expect(behavior?.OriginRequestPolicyId).toBe(ALL_VIEWER_EXCEPT_HOST_HEADER);
      expect(behavior?.AllowedMethods).toEqual(expect.arrayContaining(['GET', 'POST']));
    },
  );
});
