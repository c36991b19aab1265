/**
 * The SSO egress function on AWS: created only with `sso`, outside the VPC with nothing but the
 * issuer and its own logs, and invoked by the management API function alone, which is told its name.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EnvVar } from '../../functions/runtime.js';
import { SSO_EGRESS_FETCH_TIMEOUT_MS } from '../../functions/sso-egress-protocol.js';
import type { XpConfigInput } from '../config.js';
import { SSO_EGRESS_TIMEOUT_SECONDS } from '../sso.js';
import { policyStatements, wildcardViolations } from './iam-scan.js';
import { nagFindings, synthXp, templates } from './synth-helpers.js';
import type { Templates } from './synth-helpers.js';

type Fn = { readonly stack: string; readonly id: string; readonly props: Record<string, any> };

const SSO: NonNullable<XpConfigInput['sso']> = {
  issuer: 'https://example.okta.com/oauth2/default',
  clientId: '0oa1b2c3d4',
  clientSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:xp/dev/sso-client-Ab12Cd',
  redirectUrl: 'https://d111111abcdef8.cloudfront.net/api/v1/auth/sso/callback',
};

function functions(t: Templates): Fn[] {
  return Object.entries(t).flatMap(([stack, tpl]) =>
    Object.entries(tpl.findResources('AWS::Lambda::Function'))
      .map(([id, r]) => ({ stack, id, props: (r as { Properties: Record<string, any> }).Properties }))
      .filter((f) => String(f.props.Description).startsWith('xp ')),
  );
}

const described = (fns: Fn[], prefix: string): Fn[] => fns.filter((f) => String(f.props.Description).startsWith(prefix));
const roleOf = (fn: Fn): string => (fn.props.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

/** The actions and resources granted to one role of the api stack. */
function grantsOf(t: Template, roleId: string): { actions: string[]; resources: unknown[] }[] {
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .map((p) => (p as { Properties: { Roles: unknown; PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }).Properties)
    .filter((p) => JSON.stringify(p.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => p.PolicyDocument.Statement)
    .map((s) => ({ actions: Array.isArray(s.Action) ? s.Action : [s.Action], resources: Array.isArray(s.Resource) ? s.Resource : [s.Resource] }));
}

describe('the SSO egress function on AWS', () => {
  let withSso: Templates;
  let without: Templates;
  let nag: string[];

  beforeAll(() => {
    const built = synthXp({ sso: SSO });
    withSso = templates(built.stacks);
    nag = nagFindings(built.stacks);
    without = templates(synthXp({}, { nag: false }).stacks);
  }, 240_000);

  it('exists only with sso, in the api stack', () => {
    expect(described(functions(without), 'xp SSO egress')).toEqual([]);
    expect(described(functions(withSso), 'xp SSO egress').map((f) => f.stack)).toEqual(['api']);
  });

  it('runs outside the VPC, knows only the issuer, and may only write its logs and traces', () => {
    const [egress] = described(functions(withSso), 'xp SSO egress');
    const granted = grantsOf(withSso.api, roleOf(egress!));

    expect(egress!.props.VpcConfig).toBeUndefined();
    expect(egress!.props).toMatchObject({ Timeout: SSO_EGRESS_TIMEOUT_SECONDS, MemorySize: 256 });
    expect(SSO_EGRESS_FETCH_TIMEOUT_MS).toBeLessThan(SSO_EGRESS_TIMEOUT_SECONDS * 1000);
    expect(egress!.props.Environment.Variables).toEqual({ XP_SSO_ISSUER: SSO.issuer, [EnvVar.Stage]: 'dev', NODE_OPTIONS: '--enable-source-maps' });
    expect(granted.flatMap((g) => g.actions).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });

  it('is invoked by the API function alone, which gets its name; the API keeps the client secret', () => {
    const fns = functions(withSso);
    const [egress] = described(fns, 'xp SSO egress');
    const [api] = described(fns, 'xp management API');
    const arn = { 'Fn::GetAtt': [egress!.id, 'Arn'] };
    const invokers = policyStatements(withSso).filter((s) => s.actions.some((a) => a.startsWith('lambda:')) && JSON.stringify(s.resources).includes(JSON.stringify(arn)));
    const apiInvoke = grantsOf(withSso.api, roleOf(api!)).filter((g) => g.actions.includes('lambda:InvokeFunction') && JSON.stringify(g.resources).includes(egress!.id));

    expect(api!.props.Environment.Variables[EnvVar.SsoEgressFunction]).toEqual({ Ref: egress!.id });
    expect(apiInvoke).toEqual([{ actions: ['lambda:InvokeFunction'], resources: [arn] }]);
    expect(invokers.map((s) => s.where)).toHaveLength(1);
    expect(api!.props.Environment.Variables.XP_SSO_CLIENT_SECRET_ARN).toBe(SSO.clientSecretArn);
    expect(egress!.props.Environment.Variables.XP_SSO_CLIENT_SECRET_ARN).toBeUndefined();
    expect(wildcardViolations(policyStatements(withSso))).toEqual([]);
  });

  it('leaves the API function without XP_SSO_EGRESS_FUNCTION without sso', () => {
    const [api] = described(functions(without), 'xp management API');

    expect(api!.props.Environment.Variables[EnvVar.SsoEgressFunction]).toBeUndefined();
  });

  it('alarms on its errors and forwards its error lines, like every function', () => {
    const alarms = Object.values(withSso.observability.findResources('AWS::CloudWatch::Alarm')).map((a) => (a as { Properties: { AlarmName: string } }).Properties.AlarmName);
    const filters = Object.values(withSso.observability.findResources('AWS::Logs::SubscriptionFilter')).map((f) => (f as { Properties: { FilterName: string } }).Properties.FilterName);

    expect(alarms).toEqual(expect.arrayContaining(['xp-dev-ErrorRate-sso-egress', 'xp-dev-Throttles-sso-egress']));
    expect(filters.filter((n) => n.includes('sso-egress'))).toHaveLength(1);
  });

  it('passes cdk-nag with sso', () => {
    expect(nag).toEqual([]);
  });
});
