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
