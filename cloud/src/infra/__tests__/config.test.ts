/**
 * The deployment configuration as the CDK app reads it (loadConfig): the file, context overrides,
 * validation, and the warnings synth prints.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, loadConfig, parseConfig } from '../config.js';

const CLOUD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(path.join(tmpdir(), 'xp-config-'));
const file = (name: string, text: string): string => {
  const at = path.join(dir, name);
  writeFileSync(at, text);
  return at;
};
const context = (values: Record<string, unknown>) => (key: string): unknown => values[key];

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('deployment configuration', () => {
  it('warns when alarmEmail is unset: the alarms would notify nobody', () => {
    const warnings: string[] = [];
    const config = loadConfig(context({ config: file('quiet.json', '{"adminEmail":"owner@example.com"}'), stage: 'prod' }), dir, { warn: (w) => warnings.push(w) });

    expect(config.alarmEmail).toBeUndefined();
    expect(warnings).toEqual(['alarmEmail is not set: the alarms of stage "prod" will fire but notify nobody; set "alarmEmail" in the configuration file (or -c alarmEmail=…)']);
  });

  it('does not warn when alarmEmail is set, in the file or as context', () => {
    const warnings: string[] = [];
    loadConfig(context({ config: file('loud.json', '{"alarmEmail":"ops@example.com"}') }), dir, { warn: (w) => warnings.push(w) });
    loadConfig(context({ alarmEmail: 'ops@example.com' }), dir, { warn: (w) => warnings.push(w) });

    expect(warnings).toEqual([]);
    expect(configWarnings(parseConfig({ alarmEmail: 'ops@example.com' }))).toEqual([]);
  });

  it('warns when a stage other than dev keeps the default adminEmail', () => {
    expect(configWarnings(parseConfig({ stage: 'prod', alarmEmail: 'ops@example.com' }))).toEqual([
      'adminEmail is the default admin@example.com: the first owner account of stage "prod" will be created under that address; set "adminEmail" in the configuration file (or -c adminEmail=…)',
    ]);
    expect(configWarnings(parseConfig({ stage: 'prod', alarmEmail: 'ops@example.com', adminEmail: 'owner@example.com' }))).toEqual([]);
    expect(configWarnings(parseConfig({ alarmEmail: 'ops@example.com' }))).toEqual([]);
  });

  it('traces by default; tracing false in the file or -c tracing=false turns it off', () => {
    const quiet = { warn: (): void => undefined };

    expect(loadConfig(context({}), dir, quiet).tracing).toBe(true);
    expect(loadConfig(context({ config: file('untraced.json', '{"tracing":false}') }), dir, quiet).tracing).toBe(false);
    expect(loadConfig(context({ tracing: 'false' }), dir, quiet).tracing).toBe(false);
    expect(loadConfig(context({ config: file('untraced-2.json', '{"tracing":false}'), tracing: 'true' }), dir, quiet).tracing).toBe(true);
  });

  it('names a file that is missing, not JSON or not an object in one line', () => {
    const load = (name: string): unknown => loadConfig(context({ config: name }), dir, { warn: () => undefined });
    const problem = (name: string): string => {
      try {
        load(name);
      } catch (e) {
        return e instanceof ConfigError ? e.message : `not a ConfigError: ${String(e)}`;
      }
      return 'no error';
    };

    expect(problem('missing.json')).toBe(`config file ${path.join(dir, 'missing.json')} does not exist`);
    expect(problem(file('broken.json', '{ "alarmEmail": "ops@example.com", }'))).toMatch(new RegExp(`^config file ${path.join(dir, 'broken.json')} is not valid JSON: [^\\n]+$`));
    expect(problem(file('list.json', '[1, 2]'))).toBe(`config file ${path.join(dir, 'list.json')} must hold a JSON object ({ "alarmEmail": "…", … })`);
  });

  it('checks account and region, and names every problem', () => {
    expect(() => parseConfig({ account: '1234', region: 'eu-west1', alarmEmail: 'not an email' })).toThrow(
      /account: a 12-digit AWS account id\n {2}region: an AWS region such as eu-west-1\n {2}alarmEmail: /,
    );
    expect(parseConfig({ account: '123456789012', region: 'us-gov-west-1' })).toMatchObject({ account: '123456789012', region: 'us-gov-west-1' });
  });

  it.runIf(existsSync(path.join(CLOUD, 'dist', 'infra', 'app.js')))('the CDK app reports a bad file without a stack trace', () => {
    const bad = file('app-broken.json', '{ "stage": ');
    const run = spawnSync(process.execPath, ['dist/infra/app.js'], { cwd: CLOUD, env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ config: bad }), CDK_OUTDIR: path.join(dir, 'out') }, encoding: 'utf8' });

    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^error: config file ${bad} is not valid JSON: `))]);
  });
});
