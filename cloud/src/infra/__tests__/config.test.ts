/**
 * The deployment configuration as the CDK app reads it (loadConfig): the file, context overrides,
 * validation, and the warnings synth prints.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXPLORER_RETENTION_DAYS } from '../../store/explorer.js';
import { STAGE_NAMES } from './stage-names.js';
import { ConfigError, auroraBackupRetentionDays, auroraReader, configWarnings, isDevelopmentStage, loadConfig, parseConfig } from '../config.js';

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

describe('cost defaults and settings (FinOps review)', () => {
  /** The first problem's line of an invalid configuration. */
  const problem = (input: unknown): string => {
    try {
      parseConfig(input);
    } catch (e) {
      return (e as Error).message.split('\n')[1]?.trim() ?? '';
    }
    return 'valid';
  };

  it('gives every development stage (isDevelopmentStage, the deploy script\'s rule) no reader and 7 days of backups, every other stage both', () => {
    const defaults = (stage: string): [boolean, number] => {
      const config = parseConfig({ stage });
      return [auroraReader(config), auroraBackupRetentionDays(config)];
    };

    for (const [stage, development] of Object.entries(STAGE_NAMES)) {
      expect([stage, isDevelopmentStage(stage)]).toEqual([stage, development]);
      expect([stage, ...defaults(stage)]).toEqual(development ? [stage, false, 7] : [stage, true, 14]);
    }
    // Set, the fields still win.
    expect(auroraReader(parseConfig({ stage: 'test-42', aurora: { reader: true } }))).toBe(true);
    expect(auroraBackupRetentionDays(parseConfig({ stage: 'pr-17', aurora: { backupRetentionDays: 21 } }))).toBe(21);
  });

  it('has deploy.mjs ask the built configuration code whether a stage is a development one, with no rule of its own', () => {
    const script = readFileSync(path.join(CLOUD, 'scripts', 'deploy.mjs'), 'utf8');

    expect(script).toContain('isDevelopmentStage(options.stage)');
    expect(script).toMatch(/const \{ loadConfig, readConfigFile, isDevelopmentStage \} = await import\(/);
    expect(script).not.toMatch(/\(dev\|test\|sandbox/);
  });

  it('takes guardrailCheckMinutes, whole minutes 1-60, default 1', () => {
    expect(parseConfig({}).guardrailCheckMinutes).toBe(1);
    expect(parseConfig({ guardrailCheckMinutes: 60 }).guardrailCheckMinutes).toBe(60);
    expect(loadConfig(context({ guardrailCheckMinutes: '10' }), dir, { warn: () => undefined }).guardrailCheckMinutes).toBe(10);
    for (const bad of [0, 61, 2.5, null, '10']) {
      expect(problem({ guardrailCheckMinutes: bad })).toMatch(/^guardrailCheckMinutes: /);
    }
  });

  it('takes endpointAzs, 1 or 2, default 2', () => {
    expect(parseConfig({}).endpointAzs).toBe(2);
    expect(parseConfig({ endpointAzs: 1 }).endpointAzs).toBe(1);
    expect(loadConfig(context({ endpointAzs: '1' }), dir, { warn: () => undefined }).endpointAzs).toBe(1);
    for (const bad of [0, 3, 1.5, null]) {
      expect(problem({ endpointAzs: bad })).toMatch(/^endpointAzs: /);
    }
  });

  it('takes stream: on-demand by default, provisioned with 1-500 shards, within the aggregator\'s reserved concurrency', () => {
    expect(parseConfig({}).stream).toEqual({ mode: 'on-demand' });
    expect(parseConfig({ stream: { mode: 'provisioned', shards: 2 } }).stream).toEqual({ mode: 'provisioned', shards: 2 });
    expect(problem({ stream: { mode: 'provisioned' } })).toBe('stream.shards: a provisioned stream needs its shard count (1-500)');
    expect(problem({ stream: { shards: 2 } })).toBe('stream.shards: an on-demand stream sizes itself: set "mode": "provisioned" to choose the shard count');
    expect(problem({ stream: { mode: 'on-demand', shards: 2 } })).toMatch(/^stream\.shards: an on-demand stream sizes itself/);
    expect(problem({ stream: { mode: 'provisioned', shards: 501 } })).toMatch(/^stream\.shards: /);
    expect(problem({ stream: { mode: 'provisioned', shards: 0 } })).toMatch(/^stream\.shards: /);
    expect(problem({ stream: { mode: 'provisioned', shards: 1.5 } })).toMatch(/^stream\.shards: /);
    expect(problem({ stream: { mode: 'provisioning', shards: 2 } })).toMatch(/^stream\.mode: /);
    expect(problem({ stream: { mode: 'provisioned', shards: 21 } })).toBe('stream.shards: must not exceed reservedConcurrency.aggregator (the aggregator runs one instance per shard)');
    expect(parseConfig({ stream: { mode: 'provisioned', shards: 21 }, reservedConcurrency: { aggregator: 21 } }).stream.shards).toBe(21);
    expect(parseConfig({ stream: { mode: 'provisioned', shards: 500 }, reservedConcurrency: { aggregator: null } }).stream.shards).toBe(500);
  });

  it('caps streamRetentionHours at 168 (the aggregator\'s longest maximum record age), saying why', () => {
    expect(parseConfig({ streamRetentionHours: 168 }).streamRetentionHours).toBe(168);
    expect(problem({ streamRetentionHours: 169 })).toBe(
      'streamRetentionHours: at most 168 hours (7 days): the aggregator gives up on a record after at most 7 days (Lambda\'s maximum record age), and the S3 event archive already keeps every event for replay (archiveRetentionDays)',
    );
    expect(problem({ streamRetentionHours: 8760 })).toMatch(/^streamRetentionHours: at most 168 hours/);
  });

  it('takes explorerRetentionDays, whole days 1-90, by default the functions\' own default (7)', () => {
    expect(parseConfig({}).explorerRetentionDays).toBe(DEFAULT_EXPLORER_RETENTION_DAYS);
    expect(DEFAULT_EXPLORER_RETENTION_DAYS).toBe(7);
    expect(parseConfig({ explorerRetentionDays: 90 }).explorerRetentionDays).toBe(90);
    for (const bad of [0, 91, 1.5, null]) {
      expect(problem({ explorerRetentionDays: bad })).toMatch(/^explorerRetentionDays: /);
    }
  });
});
