import { App, Stage } from 'aws-cdk-lib';
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildXp } from '../app.js';
import type { BuildOptions, XpStacks } from '../app.js';
import { parseConfig } from '../config.js';
import type { XpConfigInput } from '../config.js';

/** A stand-in for the bundles: synth stays fast and needs neither esbuild nor Docker. */
export const stubCode = (): lambda.Code => lambda.Code.fromInline('export const handler = async () => ({});');

export function synthXp(input: XpConfigInput = {}, options: Omit<BuildOptions, 'code'> = {}): { app: App; stacks: XpStacks } {
  const app = new App();
  const stacks = buildXp(app, parseConfig({ account: '123456789012', region: 'eu-west-1', alarmEmail: 'ops@example.com', ...input }), { code: stubCode, ...options });
  return { app, stacks };
}

export const asStack = (s: unknown): Stack => s as Stack;

export type Templates = Record<keyof XpStacks, Template>;

/** Every stack's synthesized template, by stack name in XpStacks. */
export function templates(stacks: XpStacks): Templates {
  return Object.fromEntries(Object.entries(stacks).map(([k, s]) => [k, Template.fromStack(asStack(s))])) as Templates;
}

/** An error or warning of a cdk-nag AwsSolutions rule: what Annotations.findError / findWarning match. */
const nagMessage = (level: 'error' | 'warning') => Match.objectLike({ level, entry: { data: Match.stringLikeRegexp('AwsSolutions-.*') } });

/** The cdk-nag AwsSolutions errors and warnings left unsuppressed, one line each. */
export function nagFindings(stacks: XpStacks): string[] {
  const all = Object.values(stacks).map(asStack);
  const root = all[0]?.node.root;
  if (!Stage.isStage(root)) {
    throw new Error('the stacks are not part of an app');
  }
  // Annotations.fromStack synthesizes the whole app again (forced) for each stack it is given: one
  // forced synthesis here yields the same messages for every stack.
  const assembly = root.synth({ force: true });
  return all.flatMap((s) => {
    const messages = assembly.getStackArtifact(s.artifactId).messages;
    const found = (level: 'error' | 'warning') => messages.filter((m) => !nagMessage(level).test(m).hasFailed());
    return [...found('error'), ...found('warning')].map((m) => `${m.id}: ${JSON.stringify(m.entry.data).slice(0, 200)}`);
  });
}

/** An AWS::EC2::SecurityGroupIngress rule, where it is and the properties that say who may connect. */
export interface IngressRule {
  readonly where: string;
  readonly properties: Record<string, unknown>;
}

/**
 * Every AWS::EC2::SecurityGroupIngress of every stack whose GroupId is one of the data stack's
 * security groups (database, RDS Proxy, shared cache): referenced in the data stack itself
 * (Fn::GetAtt) or imported from it by a consumer stack (Fn::ImportValue of a data-stack export),
 * and the rules written inline into those groups.
 */
export function dataStoreIngress(t: Templates): IngressRule[] {
  const data = t.data.toJSON() as { Resources: Record<string, { Type: string; Properties?: { SecurityGroupIngress?: Record<string, unknown>[] } }>; Outputs?: Record<string, { Value: unknown; Export?: { Name: string } }> };
  const groups = new Set(Object.entries(data.Resources).filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroup').map(([id]) => id));
  const isDataGroup = (ref: unknown): boolean => {
    const getAtt = (ref as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt'];
    return getAtt !== undefined && groups.has(getAtt[0]) && getAtt[1] === 'GroupId';
  };
  const exported = new Set(Object.values(data.Outputs ?? {}).filter((o) => o.Export !== undefined && isDataGroup(o.Value)).map((o) => o.Export!.Name));
  // Rules CDK writes inline into the data stack's groups (e.g. RDS Proxy to the cluster).
  const inline = Object.entries(data.Resources)
    .filter(([id]) => groups.has(id))
    .flatMap(([id, r]) => (r.Properties?.SecurityGroupIngress ?? []).map((properties, i) => ({ where: `data/${id}[${i}]`, properties })));
  return inline.concat(Object.entries(t).flatMap(([stack, template]) =>
    Object.entries(template.findResources('AWS::EC2::SecurityGroupIngress'))
      .map(([id, r]) => ({ where: `${stack}/${id}`, properties: (r as { Properties: Record<string, unknown> }).Properties }))
      .filter(({ properties: p }) => {
        const imported = (p.GroupId as { 'Fn::ImportValue'?: unknown } | undefined)?.['Fn::ImportValue'];
        return isDataGroup(p.GroupId) || (typeof imported === 'string' && exported.has(imported));
      }),
  ));
}

/** Rules that admit anything but another security group (a CIDR, a prefix list). */
export function openIngress(rules: readonly IngressRule[]): string[] {
  return rules
    .filter((r) => r.properties.SourceSecurityGroupId === undefined || r.properties.CidrIp !== undefined || r.properties.CidrIpv6 !== undefined || r.properties.SourcePrefixListId !== undefined)
    .map((r) => `${r.where}: ${JSON.stringify(r.properties.CidrIp ?? r.properties.CidrIpv6 ?? r.properties.SourcePrefixListId ?? 'no source security group')}`);
}
