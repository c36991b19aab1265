/**
 * cloud/scripts/deploy.mjs without AWS: what --dry-run prints, and how a bad configuration file is
 * reported. The script validates the configuration with the built CDK app's code (cloud/dist).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isDevelopmentStage } from '../config.js';
import { STAGE_NAMES } from './stage-names.js';

const CLOUD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPT = path.join(CLOUD, 'scripts', 'deploy.mjs');
const dir = mkdtempSync(path.join(tmpdir(), 'xp-deploy-'));
const build = path.join(dir, 'renderer');
mkdirSync(build);
writeFileSync(path.join(build, 'index.html'), '<!doctype html>');

const file = (name: string, text: string): string => {
  const at = path.join(dir, name);
  writeFileSync(at, text);
  return at;
};

type Run = { status: number | null; out: string[]; err: string[] };

/**
 * Runs at once, at most: each run is mostly a node start and the import of the built configuration
 * code, so a few overlap well, and the worker is not blocked while they run (as with spawnSync).
 */
const RUNS_AT_ONCE = 4;
let running = 0;
const queued: (() => void)[] = [];

async function deploy(args: string[], env: Record<string, string> = {}): Promise<Run> {
  if (running >= RUNS_AT_ONCE) {
    await new Promise<void>((resolve) => queued.push(resolve));
  } else {
    running++;
  }
  try {
    // No AWS_PROFILE or credentials are needed: a dry run calls nothing.
    return await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [SCRIPT, ...args], { cwd: path.dirname(CLOUD), env: { ...process.env, XP_CONSOLE_DIR: build, ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.stdin.end();
      child.on('error', reject);
      const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
      child.on('close', (status) => {
        resolve({ status, out: lines(stdout), err: lines(stderr) });
      });
    });
  } finally {
    // The slot passes to the next queued run, if any.
    const next = queued.shift();
    if (next === undefined) {
      running--;
    } else {
      next();
    }
  }
}

/**
 * A stand-in `aws` on PATH for runs that are not dry: it logs `<AWS_REGION> <arguments>` a line per
 * call, answers get-account-settings with XP_FAKE_LIMIT (or AccessDenied when unset) and fails
 * everything else, so no such run gets past the bootstrap check to cdk.
 */
const fakeBin = path.join(dir, 'bin');
mkdirSync(fakeBin);
writeFileSync(
  path.join(fakeBin, 'aws'),
  `#!/bin/sh
[ "$1" = --version ] && exit 0
echo "\${AWS_REGION:-none} $*" >> "$XP_FAKE_AWS_LOG"
if [ "$1 $2" = "lambda get-account-settings" ] && [ -n "$XP_FAKE_LIMIT" ]; then echo "$XP_FAKE_LIMIT"; exit 0; fi
echo "An error occurred (AccessDeniedException): fake aws refuses $1 $2" >&2
exit 254
`,
);
chmodSync(path.join(fakeBin, 'aws'), 0o755);

async function deployWithFakeAws(args: string[], limit?: string): Promise<Run & { aws: string[] }> {
  const log = path.join(dir, `aws-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const result = await deploy(args, { PATH: `${fakeBin}${path.delimiter}${process.env.PATH ?? ''}`, XP_FAKE_AWS_LOG: log, AWS_REGION: '', ...(limit === undefined ? {} : { XP_FAKE_LIMIT: limit }) });
  return { ...result, aws: readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') };
}

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Each run is a node process that loads the built CDK app's configuration code: slow when the other test files synthesize alongside.
// A test's runs are independent of one another: started together, they overlap (RUNS_AT_ONCE).
describe('deploy.mjs', { timeout: 120_000 }, () => {
  const good = file('good.json', '{ "alarmEmail": "ops@example.com", "adminEmail": "owner@example.com" }');

  it('deploy --dry-run prints every command it would run, with placeholders for stack outputs, and says nothing was deployed', async () => {
    const { status, out, err } = await deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', good, '--profile', 'ops', '--region', 'eu-west-1']);
    const commands = out.filter((l) => l.startsWith('$ ')).map((l) => l.replace(/\S*node_modules\/\.bin\/cdk/, 'cdk'));
    const context = `-c stage=prod -c config=${good}`;

    expect(status).toBe(0);
    expect(err).toEqual([]);
    expect(commands).toEqual([
      '$ AWS_PROFILE=ops AWS_REGION=eu-west-1 aws lambda get-account-settings --query AccountLimit.ConcurrentExecutions --output text',
      "$ AWS_PROFILE=ops AWS_REGION=eu-west-1 aws cloudformation describe-stacks --stack-name CDKToolkit --query 'Stacks[0].Outputs[?OutputKey=='\\''BootstrapVersion'\\''].OutputValue' --output text",
      `$ AWS_PROFILE=ops AWS_REGION=eu-west-1 CDK_DEFAULT_REGION=eu-west-1 cdk bootstrap ${context}`,
      `$ AWS_PROFILE=ops AWS_REGION=eu-west-1 CDK_DEFAULT_REGION=eu-west-1 cdk deploy --all --require-approval broadening --outputs-file ${path.join(CLOUD, 'cdk-outputs-prod.json')} ${context}`,
      `$ AWS_PROFILE=ops AWS_REGION=eu-west-1 aws s3 sync ${build} s3://<xp-prod-console.ConsoleBucket> --delete`,
      "$ AWS_PROFILE=ops AWS_REGION=eu-west-1 aws cloudfront create-invalidation --distribution-id <xp-prod-console.ConsoleDistributionId> --paths '/*'",
    ]);
    expect(out.join('\n')).not.toMatch(/No console web build|is deployed/);
    expect(out.at(-1)).toBe('dry run: nothing was deployed');
    // The owner's password is read with the same profile and region as everything else.
    expect(out).toContain("Then: the first owner's password with: AWS_PROFILE=ops AWS_REGION=eu-west-1 aws secretsmanager get-secret-value --secret-id xp/prod/initial-owner-password --query SecretString --output text");
  });

  it('stops a deploy of a stage other than dev without alarmEmail, even with --yes, unless --allow-missing-alarm-email; dev deploys without', async () => {
    const noAlarms = file('prod-no-alarms.json', '{ "adminEmail": "owner@example.com" }');
    const [stopped, yes, accepted, dev] = await Promise.all([
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', noAlarms]),
      // --yes answers prompts (as CI passes it), never this check.
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--yes', '--config', noAlarms]),
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--yes', '--allow-missing-alarm-email', '--config', noAlarms]),
      deploy(['deploy', '--dry-run', '--config', noAlarms]),
    ]);
    const stop = 'xp: stage "prod" has no alarmEmail: its alarms (failed pipeline batches, error rates, guardrail rollbacks) would notify nobody. Set "alarmEmail" in the configuration file (or --config FILE), or pass --allow-missing-alarm-email to deploy without alarm e-mails.';

    for (const run of [stopped, yes]) {
      expect(run.status).toBe(1);
      expect(run.out.filter((l) => l.startsWith('$ '))).toEqual([]);
      expect(run.err).toEqual([stop]);
    }
    expect(accepted.status).toBe(0);
    expect(accepted.err).toEqual(['xp: WARNING: stage "prod" has no alarmEmail: its alarms (failed pipeline batches, error rates, guardrail rollbacks) would notify nobody (deploying anyway: --allow-missing-alarm-email)']);
    expect(accepted.out.find((l) => l.includes('cdk deploy '))).toContain('--require-approval never');
    expect(accepted.out.at(-1)).toBe('dry run: nothing was deployed');
    expect(dev.status).toBe(0);
    expect(dev.err).toEqual([]);
  });

  it('stops a deploy of a stage other than dev whose first owner would be admin@example.com, even with --yes, unless --allow-default-admin-email', async () => {
    const noAdmin = file('prod-no-admin.json', '{ "alarmEmail": "ops@example.com" }');
    const [prod, accepted, neither, dev] = await Promise.all([
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--yes', '--config', noAdmin]),
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--allow-default-admin-email', '--config', noAdmin]),
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--yes', '--config', file('prod-empty.json', '{}')]),
      deploy(['deploy', '--dry-run', '--config', noAdmin]),
    ]);

    expect(prod.status).toBe(1);
    expect(prod.out.filter((l) => l.startsWith('$ '))).toEqual([]);
    expect(prod.err).toEqual([
      'xp: stage "prod" creates its first owner account as admin@example.com (the default). Set "adminEmail" in the configuration file before the first deploy, or pass --allow-default-admin-email (an existing stage: its owner was created by the first deploy).',
    ]);
    expect(accepted.status).toBe(0);
    expect(accepted.err).toEqual(['xp: WARNING: stage "prod" creates its first owner account as admin@example.com (the default) (deploying anyway: --allow-default-admin-email)']);
    expect(accepted.out).toContain('warning: adminEmail is the default admin@example.com: the first owner account of stage "prod" will be created under that address; set "adminEmail" in the configuration file (or -c adminEmail=…)');
    // Both problems are named at once.
    expect(neither.status).toBe(1);
    expect(neither.err).toHaveLength(2);
    expect(dev.status).toBe(0);
    expect(dev.err).toEqual([]);
  });

  it('warns when the configuration file names another stage than the one deployed', async () => {
    const prodFile = file('prod-stage.json', '{ "stage": "prod", "alarmEmail": "ops@example.com", "adminEmail": "owner@example.com" }');
    const [asDev, asProd, asQa] = await Promise.all([
      deploy(['deploy', '--dry-run', '--config', prodFile]),
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', prodFile]),
      deploy(['synth', '--stage', 'qa', '--dry-run', '--config', prodFile]),
    ]);

    expect(asDev.status).toBe(0);
    expect(asDev.err).toEqual([expect.stringMatching(/^xp: WARNING: .*prod-stage\.json says "stage": "prod", but this is stage "dev" \(the default; pass --stage to choose\): the file's "stage" is ignored$/)]);
    expect(asDev.out.find((l) => l.includes('cdk deploy '))).toContain('-c stage=dev');
    expect(asProd.err).toEqual([]);
    expect(asQa.err).toEqual([expect.stringMatching(/but this is stage "qa" \(--stage\): the file's "stage" is ignored$/)]);
  });

  it('destroy and synth --dry-run say that nothing happened, and a dry run warns of a missing alarmEmail', async () => {
    const noAlarms = file('no-alarms.json', '{}');
    const [destroy, synth] = await Promise.all([deploy(['destroy', '--stage', 'qa', '--dry-run', '--config', noAlarms]), deploy(['synth', '--dry-run', '--config', good])]);

    expect(destroy.status).toBe(0);
    expect(destroy.out.at(-1)).toBe('dry run: nothing was destroyed');
    expect(destroy.out).toContain('warning: alarmEmail is not set: the alarms of stage "qa" will fire but notify nobody; set "alarmEmail" in the configuration file (or -c alarmEmail=…)');
    expect(synth.out.at(-1)).toBe('dry run: nothing was synthesized');
  });

  it('stops a deploy with removalPolicy "destroy" of a stage whose name is not a development one, even with --yes, unless --allow-destroy-policy', async () => {
    const destroy = file('destroy.json', '{ "alarmEmail": "ops@example.com", "adminEmail": "owner@example.com", "removalPolicy": "destroy" }');
    const status = async (stages: string[]): Promise<Record<string, number | null>> =>
      Object.fromEntries(await Promise.all(stages.map(async (stage) => [stage, (await deploy(['deploy', '--stage', stage, '--dry-run', '--config', destroy])).status] as const)));
    const [stopped, accepted, retained, statuses] = await Promise.all([
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--yes', '--config', destroy]),
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--allow-destroy-policy', '--config', destroy]),
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', good]),
      status(['dev', 'pr-17', 'staging']),
    ]);

    expect(stopped.status).toBe(1);
    expect(stopped.out.filter((l) => l.startsWith('$ '))).toEqual([]);
    expect(stopped.err).toEqual([
      'xp: stage "prod" has removalPolicy "destroy": its database loses deletion protection and a destroy deletes its data (the cluster after a final snapshot). Set "removalPolicy": "retain" in the configuration file, or pass --allow-destroy-policy if this is a throwaway stage (names dev, test, sandbox, preview, ci, pr and dev-…, test-…, … need no flag).',
    ]);
    expect(accepted.status).toBe(0);
    expect(accepted.err).toEqual([expect.stringMatching(/^xp: WARNING: stage "prod" has removalPolicy "destroy": .* \(deploying anyway: --allow-destroy-policy\)$/)]);
    expect(retained.status).toBe(0);
    expect(statuses).toEqual({ dev: 0, 'pr-17': 0, staging: 1 });
  });

  it('judges a stage a development one exactly as the configuration does (isDevelopmentStage, which picks the cheaper defaults)', async () => {
    const destroy = file('destroy-names.json', '{ "alarmEmail": "ops@example.com", "adminEmail": "owner@example.com", "removalPolicy": "destroy" }');
    // Every name the script accepts as a stage at all (its own format check).
    const names = Object.keys(STAGE_NAMES).filter((stage) => /^[a-z][a-z0-9-]{0,19}$/.test(stage));
    const accepted = Object.fromEntries(await Promise.all(names.map(async (stage) => [stage, (await deploy(['deploy', '--stage', stage, '--dry-run', '--config', destroy])).status === 0] as const)));

    expect(names.length).toBeGreaterThan(12);
    expect(accepted).toEqual(Object.fromEntries(names.map((stage) => [stage, isDevelopmentStage(stage)])));
    expect(Object.values(accepted)).toEqual(expect.arrayContaining([true, false]));
  });

  it('runs every AWS CLI command in the configuration\'s region when --region is not given; --region wins', async () => {
    const pinned = file('pinned.json', '{ "alarmEmail": "ops@example.com", "adminEmail": "owner@example.com", "region": "eu-central-1" }');
    const [fromFile, fromFlag, real] = await Promise.all([
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', pinned]),
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', pinned, '--region', 'eu-west-1']),
      deployWithFakeAws(['deploy', '--stage', 'prod', '--config', pinned], '1000'),
    ]);
    const aws = (out: string[]): string[] => out.filter((l) => / aws /.test(l));

    expect(fromFile.status).toBe(0);
    expect(fromFile.err).toEqual([]);
    // The concurrency and bootstrap checks, the console upload and its invalidation, the owner's password.
    expect(aws(fromFile.out)).toHaveLength(5);
    expect(aws(fromFile.out).every((l) => /(^\$ |: )AWS_REGION=eu-central-1 aws /.test(l))).toBe(true);
    expect(fromFile.out.filter((l) => / cdk (bootstrap|deploy) /.test(l)).every((l) => l.startsWith('$ AWS_REGION=eu-central-1 CDK_DEFAULT_REGION=eu-central-1 '))).toBe(true);
    expect(fromFlag.status).toBe(0);
    expect(aws(fromFlag.out)).toHaveLength(5);
    expect(aws(fromFlag.out).every((l) => /(^\$ |: )AWS_REGION=eu-west-1 aws /.test(l))).toBe(true);
    expect(fromFlag.err).toEqual([expect.stringMatching(/^xp: WARNING: --region eu-west-1 differs from the configuration's "region": "eu-central-1"/)]);
    // The real pre-flight, not only what a dry run prints.
    expect(real.aws).toEqual([
      'eu-central-1 lambda get-account-settings --query AccountLimit.ConcurrentExecutions --output text',
      "eu-central-1 cloudformation describe-stacks --stack-name CDKToolkit --query Stacks[0].Outputs[?OutputKey=='BootstrapVersion'].OutputValue --output text",
    ]);
    expect(real.status).toBe(1);
    expect(real.err.at(-1)).toMatch(/^xp: cannot read the CDK bootstrap stack/);
  });

  it('checks the account\'s Lambda concurrency limit against reservedConcurrency + 100 before anything is created', async () => {
    const small = file('small.json', '{ "alarmEmail": "ops@example.com", "adminEmail": "owner@example.com", "region": "eu-west-1", "reservedConcurrency": { "sdk": null, "api": 5, "aggregator": 3 } }');
    const unreserved = file('unreserved.json', '{ "alarmEmail": "ops@example.com", "adminEmail": "owner@example.com", "reservedConcurrency": { "sdk": null, "api": null, "aggregator": null } }');
    const [dry, newAccount, enough, tooFew, unreadable, none] = await Promise.all([
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', good]),
      deployWithFakeAws(['deploy', '--stage', 'prod', '--config', good], '10'),
      deployWithFakeAws(['deploy', '--stage', 'prod', '--config', small], '108'),
      deployWithFakeAws(['deploy', '--stage', 'prod', '--config', small], '107'),
      deployWithFakeAws(['deploy', '--stage', 'prod', '--config', good]),
      deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', unreserved]),
    ]);

    expect(dry.out.slice(dry.out.indexOf('$ aws lambda get-account-settings --query AccountLimit.ConcurrentExecutions --output text'))[1]).toBe(
      '(the deploy stops unless the answer is at least 370: reservedConcurrency reserves 270, and Lambda keeps 100 unreserved)',
    );
    // Stopped before the bootstrap check, so before anything could be created.
    expect(newAccount.status).toBe(1);
    expect(newAccount.aws).toEqual(['none lambda get-account-settings --query AccountLimit.ConcurrentExecutions --output text']);
    expect(newAccount.err).toEqual([
      'xp: the account\'s Lambda concurrency limit in this region is 10, below the 370 this stage needs (270 reserved + 100 Lambda keeps unreserved): lower reservedConcurrency.sdk (200), reservedConcurrency.api (50), reservedConcurrency.aggregator (20) in the configuration file, or set them to null, so that they add up to at most 0; or raise the account\'s "Concurrent executions" quota (Service Quotas) first.',
    ]);
    expect(enough.aws).toHaveLength(2);
    expect(tooFew.aws).toHaveLength(1);
    expect(tooFew.err).toEqual([expect.stringMatching(/^xp: the account's Lambda concurrency limit in eu-west-1 is 107, below the 108 .*: lower reservedConcurrency\.api \(5\), reservedConcurrency\.aggregator \(3\) in/)]);
    // A role without lambda:GetAccountSettings: a warning, and the deploy goes on (here to the bootstrap check).
    expect(unreadable.aws).toHaveLength(2);
    expect(unreadable.err[0]).toMatch(/^xp: WARNING: cannot read the account's Lambda concurrency limit \(lambda:GetAccountSettings\): An error occurred \(AccessDeniedException\)/);
    // Nothing reserved: nothing to check.
    expect(none.out.filter((l) => l.includes('get-account-settings'))).toEqual([]);
  });

  it('reports a bad configuration file in one line, before running anything', async () => {
    const broken = file('broken.json', '{ "alarmEmail": "ops@example.com", }');
    const invalid = file('invalid.json', '{ "logRetentionDays": 31, "aurora": { "minCapacity": 8, "maxCapacity": 2 } }');

    const cases = [
      [broken, `xp: config file ${broken} is not valid JSON: `],
      [invalid, `xp: invalid xp deployment configuration in ${invalid}: logRetentionDays: not a CloudWatch Logs retention period; aurora: minCapacity must not exceed maxCapacity`],
      [path.join(dir, 'missing.json'), `xp: config file ${path.join(dir, 'missing.json')} does not exist`],
    ] as const;
    const runs = await Promise.all(cases.map(([config]) => deploy(['deploy', '--stage', 'prod', '--dry-run', '--config', config])));

    for (const [i, [, message]] of cases.entries()) {
      const { status, out, err } = runs[i]!;

      expect(status).toBe(1);
      expect(out).toEqual([]);
      expect(err).toHaveLength(1);
      expect(err[0]!.startsWith(message)).toBe(true);
    }
  });
});
