/**
 * docs/deploy.md and docs/operations.md against what the CDK app does: the paths CloudFront sends to
 * the API, the configuration fields, the outputs operators subscribe with.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../config.js';
import { API_PATHS } from '../console-stack.js';

const DOCS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs');
const deployMd = readFileSync(path.join(DOCS, 'deploy.md'), 'utf8');
const operationsMd = readFileSync(path.join(DOCS, 'operations.md'), 'utf8');
/** The table row of deploy.md whose first cell is `name`. */
const row = (name: string): string | undefined => deployMd.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));

describe('docs/deploy.md', () => {
  it('lists every path the console distribution proxies to the API', () => {
    const consoleRow = row('xp-<stage>-console');

    expect(consoleRow).toBeDefined();
    expect(API_PATHS.filter((p) => !consoleRow!.includes(`\`${p}\``))).toEqual([]);
  });

  it('has a row in the configuration table for every configuration field', () => {
    const fields = Object.keys(configSchema.shape);

    expect(fields).toContain('tracing');
    expect(fields.filter((f) => row(f) === undefined)).toEqual([]);
  });

  it('names the context key that picks the configuration file for cdk itself, and when synth needs credentials', () => {
    expect(deployMd).toContain('`-c config=FILE`');
    expect(deployMd).not.toContain('the file given with `--config`');
    expect(deployMd).toMatch(/pins `account`[^.]*availability\s+zones/);
  });

  it('documents the alarm topic output for other subscribers', () => {
    expect(operationsMd).toContain('## Alarm notifications (PagerDuty, chat)');
    expect(operationsMd).toContain('AlarmTopicArn');
    expect(deployMd).toContain('operations.md#alarm-notifications-pagerduty-chat');
  });
});
