import { App } from 'aws-cdk-lib';
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
