import { App } from 'aws-cdk-lib';
import type { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
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

/** The cdk-nag AwsSolutions errors and warnings left unsuppressed, one line each. */
export function nagFindings(stacks: XpStacks): string[] {
  return Object.values(stacks).flatMap((s) => {
    const a = Annotations.fromStack(asStack(s));
    return [...a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')), ...a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))].map((m) => `${m.id}: ${JSON.stringify(m.entry.data).slice(0, 200)}`);
  });
}
