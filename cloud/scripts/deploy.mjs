#!/usr/bin/env node
// `npm run synth | deploy | destroy -- [--stage prod] [--profile p] [--region r] [--config file] [--yes] [--dry-run]
//   [--allow-missing-alarm-email] [--allow-default-admin-email] [--allow-destroy-policy]`
// --yes only answers the prompts (cdk's approval of security-relevant changes, destroy's confirmation).
// A deploy of a stage other than dev without alarmEmail, or with the default admin@example.com as
// its first owner, and a deploy of a stage whose name is not a development one (isDevelopmentStage,
// from the built CDK app's configuration code) with removalPolicy "destroy", stop unless the flag named for that very problem acknowledges it.
// The region: --region, else the configuration's "region", else the CLI's (AWS_REGION, the profile).
// synth: CloudFormation templates in cloud/cdk.out (offline unless the configuration pins "account").
// deploy: checks the account's Lambda concurrency limit against reservedConcurrency and the CDK
// bootstrap of the target account/region (bootstraps it when missing), deploys every stack, uploads the console web
// build when one exists (XP_CONSOLE_DIR names another), and prints the URLs. destroy: removes the
// stacks; data stores are retained unless the stage was deployed with removalPolicy "destroy".
// Every command first validates the configuration file. --dry-run prints every command it would
// run (outputs it cannot know before a deploy as <placeholders>) and runs none.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CLOUD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = path.resolve(CLOUD, '..');
const CONSOLE_BUILD_DIRS = ['desktop/dist/web', 'desktop/dist/renderer'];

function parse(argv) {
  const [command, ...rest] = argv;
  const options = { stage: 'dev', yes: false, dryRun: false, allowMissingAlarmEmail: false, allowDefaultAdminEmail: false, allowDestroyPolicy: false };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    const value = () => {
      const v = rest[++i];
      if (v === undefined || v.startsWith('--')) {
        fail(`${arg} needs a value`);
      }
      return v;
    };
    const named = { '--stage': 'stage', '--profile': 'profile', '--region': 'region', '--config': 'config' }[arg];
    if (named !== undefined) {
      options[named] = value();
    } else if (arg === '--yes') {
      options.yes = true;
    } else if (arg === '--dry-run') {
      options.dryRun = true;
    } else if (arg === '--allow-missing-alarm-email') {
      options.allowMissingAlarmEmail = true;
    } else if (arg === '--allow-default-admin-email') {
      options.allowDefaultAdminEmail = true;
    } else if (arg === '--allow-destroy-policy') {
      options.allowDestroyPolicy = true;
    } else {
      fail(`unknown option ${arg}`);
    }
  }
  if (!['synth', 'deploy', 'destroy'].includes(command)) {
    fail('usage: deploy.mjs synth|deploy|destroy [--stage NAME] [--profile P] [--region R] [--config FILE] [--yes] [--dry-run] [--allow-missing-alarm-email] [--allow-default-admin-email] [--allow-destroy-policy]');
  }
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(options.stage)) {
    fail(`stage "${options.stage}" must be lower-case letters, digits and dashes`);
  }
  return { command, options };
}

function fail(message) {
  console.error(`xp: ${message}`);
  process.exit(1);
}

function cdkBin() {
  for (const dir of [CLOUD, ROOT]) {
    const bin = path.join(dir, 'node_modules', '.bin', 'cdk');
    if (existsSync(bin)) {
      return bin;
    }
  }
  fail('the AWS CDK CLI is not installed (npm install at the repository root)');
}

/** An argument as a POSIX shell reads it back (placeholders such as <ConsoleBucket> are left bare, to be replaced). */
const shellWord = (a) => (/^[\w@%+=:,./<>-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);

/** The variables --profile and --region set for every command. */
const awsEnv = (options) => ({ ...(options.profile ? { AWS_PROFILE: options.profile } : {}), ...(options.region ? { AWS_REGION: options.region, CDK_DEFAULT_REGION: options.region } : {}) });

/** A command as a shell line, with the variables --profile and --region set, so it runs the same when pasted. */
function commandLine(options, cmd, args) {
  const assignments = Object.entries(awsEnv(options)).filter(([k]) => k !== 'CDK_DEFAULT_REGION' || cmd !== 'aws').map(([k, v]) => `${k}=${shellWord(v)}`);
  return [...assignments, ...[cmd, ...args].map(shellWord)].join(' ');
}

function run(options, cmd, args, { capture = false, allowFailure = false } = {}) {
  const env = { ...process.env, ...awsEnv(options) };
  console.log(`$ ${commandLine(options, cmd, args)}`);
  if (options.dryRun) {
    return { status: 0, stdout: '' };
  }
  const result = spawnSync(cmd, args, { cwd: CLOUD, env, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' });
  if (result.error && !allowFailure) {
    fail(`${cmd}: ${result.error.message}`);
  }
  if (result.status !== 0 && !allowFailure) {
    fail(`${cmd} exited with ${result.status}`);
  }
  return result;
}

const contextArgs = (options) => ['-c', `stage=${options.stage}`, ...(options.config ? ['-c', `config=${path.resolve(options.config)}`] : [])];

/**
 * Validates the configuration (--config, else cloud/xp.config.json when present) the way the CDK
 * app will, so a mistake is one clear line before anything runs rather than a failure half-way.
 * In a dry run, warnings (such as no alarmEmail) are printed too; otherwise the CDK app prints them.
 * Also warns (stderr, before anything runs) when the file's "stage" is not the stage deployed.
 */
async function checkConfig(options) {
  const file = options.config ? path.resolve(options.config) : path.join(CLOUD, 'xp.config.json');
  const compiled = path.join(CLOUD, 'dist', 'infra', 'config.js');
  if (!existsSync(compiled)) {
    fail('the CDK app is not built (cloud/dist/infra is missing): run npm run build first, or use npm run synth|deploy|destroy, which build');
  }
  const { loadConfig, readConfigFile, isDevelopmentStage } = await import(pathToFileURL(compiled).href);
  if (typeof isDevelopmentStage !== 'function') {
    fail('the CDK app build (cloud/dist/infra) is older than this script: run npm run build first, or use npm run synth|deploy|destroy, which build');
  }
  const context = { stage: options.stage, ...(options.config ? { config: file } : {}) };
  let config;
  try {
    config = loadConfig((key) => context[key], CLOUD, { warn: (warning) => (options.dryRun ? console.log(`warning: ${warning}`) : undefined) });
  } catch (e) {
    const [head, ...problems] = String(e instanceof Error ? e.message : e).split('\n').map((l) => l.trim());
    fail(problems.length === 0 ? head : `${head.replace(/:$/, '')} in ${existsSync(file) ? file : 'the context'}: ${problems.join('; ')}`);
  }
  // --stage (default dev) always wins over the file's "stage" (cdk.json's context sets one): say so when they differ.
  const fileStage = existsSync(file) ? readConfigFile(file).stage : undefined;
  if (fileStage !== undefined && fileStage !== options.stage) {
    loud(`${path.relative(process.cwd(), file) || file} says "stage": ${JSON.stringify(fileStage)}, but this ${options.stage === 'dev' ? 'is stage "dev" (the default; pass --stage to choose)' : `is stage "${options.stage}" (--stage)`}: the file's "stage" is ignored`);
  }
  return { config, isDevelopmentStage };
}

/** A warning that must not scroll past in the CDK output: stderr, before anything runs. */
function loud(message) {
  console.error(`xp: WARNING: ${message}`);
}

/**
 * Where the --region flag and the configuration's "region" meet: --region wins for every command this
 * script runs (the CDK app still deploys the stacks to the configuration's region, which pins the stage).
 */
function resolveRegion(options, config) {
  if (options.region === undefined) {
    return config.region === undefined ? options : { ...options, region: config.region };
  }
  if (config.region !== undefined && config.region !== options.region) {
    loud(`--region ${options.region} differs from the configuration's "region": ${JSON.stringify(config.region)}, which the stacks are deployed to; the checks, the console upload and the printed commands use ${options.region}`);
  }
  return options;
}

/**
 * What a deploy must not do unnoticed: give a stage that is not a throwaway one (isDevelopmentStage
 * of the built config.js: dev, test, sandbox, preview, ci and pr, alone or followed by -…, such as
 * test-42 or pr-17; the same rule picks their cheaper defaults) removalPolicy "destroy" (no deletion protection: a destroy then deletes its data), and, for a stage other than
 * dev, send alarms to nobody or create the first owner as admin@example.com. Each stops the deploy
 * unless its own flag acknowledges it (then a warning); --yes does not, so an unattended deploy (CI)
 * cannot skip them by answering prompts.
 */
function checkDeployConfig(options, config, isDevelopmentStage) {
  const problems = [];
  if (config.removalPolicy === 'destroy' && !isDevelopmentStage(options.stage)) {
    const message = `stage "${options.stage}" has removalPolicy "destroy": its database loses deletion protection and a destroy deletes its data (the cluster after a final snapshot)`;
    if (options.allowDestroyPolicy) {
      loud(`${message} (deploying anyway: --allow-destroy-policy)`);
    } else {
      problems.push(`${message}. Set "removalPolicy": "retain" in the configuration file, or pass --allow-destroy-policy if this is a throwaway stage (names dev, test, sandbox, preview, ci, pr and dev-…, test-…, … need no flag).`);
    }
  }
  if (options.stage !== 'dev' && config.alarmEmail === undefined) {
    const message = `stage "${options.stage}" has no alarmEmail: its alarms (failed pipeline batches, error rates, guardrail rollbacks) would notify nobody`;
    if (options.allowMissingAlarmEmail) {
      loud(`${message} (deploying anyway: --allow-missing-alarm-email)`);
    } else {
      problems.push(`${message}. Set "alarmEmail" in the configuration file (or --config FILE), or pass --allow-missing-alarm-email to deploy without alarm e-mails.`);
    }
  }
  if (options.stage !== 'dev' && config.adminEmail === 'admin@example.com') {
    const message = `stage "${options.stage}" creates its first owner account as admin@example.com (the default)`;
    if (options.allowDefaultAdminEmail) {
      loud(`${message} (deploying anyway: --allow-default-admin-email)`);
    } else {
      problems.push(`${message}. Set "adminEmail" in the configuration file before the first deploy, or pass --allow-default-admin-email (an existing stage: its owner was created by the first deploy).`);
    }
  }
  if (problems.length > 0) {
    for (const problem of problems) {
      console.error(`xp: ${problem}`);
    }
    process.exit(1);
  }
}
const hasAwsCli = () => spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;

/** The part of an account's Lambda concurrency that Lambda never lets functions reserve. */
const UNRESERVED_MINIMUM = 100;

/**
 * Stops the deploy, before anything is created, when the account's Lambda concurrency limit (in the
 * target region) cannot hold the stage's reservedConcurrency plus the 100 Lambda keeps unreserved:
 * otherwise the functions' stacks fail only after the ~15-minute Aurora create. When the limit cannot
 * be read (the role may not call lambda:GetAccountSettings), a warning, and the deploy goes on.
 */
function checkConcurrency(options, config) {
  const groups = Object.entries(config.reservedConcurrency).filter(([, n]) => n !== null);
  const reserved = groups.reduce((sum, [, n]) => sum + n, 0);
  if (reserved === 0) {
    return;
  }
  const needed = reserved + UNRESERVED_MINIMUM;
  const result = run(options, 'aws', ['lambda', 'get-account-settings', '--query', 'AccountLimit.ConcurrentExecutions', '--output', 'text'], { capture: true, allowFailure: true });
  if (options.dryRun) {
    console.log(`(the deploy stops unless the answer is at least ${needed}: reservedConcurrency reserves ${reserved}, and Lambda keeps ${UNRESERVED_MINIMUM} unreserved)`);
    return;
  }
  const limit = Number((result.stdout ?? '').trim());
  const where = options.region ? `in ${options.region}` : 'in this region';
  if (result.status !== 0 || !Number.isInteger(limit) || (result.stdout ?? '').trim() === '') {
    loud(`cannot read the account's Lambda concurrency limit (lambda:GetAccountSettings): ${((result.stderr ?? '').trim().split('\n')[0] ?? '') || `answer ${JSON.stringify((result.stdout ?? '').trim())}`}; if it is below ${needed} ${where}, the deploy fails after the database was created`);
    return;
  }
  if (limit < needed) {
    const fields = groups.map(([name, n]) => `reservedConcurrency.${name} (${n})`).join(', ');
    fail(`the account's Lambda concurrency limit ${where} is ${limit}, below the ${needed} this stage needs (${reserved} reserved + ${UNRESERVED_MINIMUM} Lambda keeps unreserved): lower ${fields} in the configuration file, or set them to null, so that they add up to at most ${Math.max(limit - UNRESERVED_MINIMUM, 0)}; or raise the account's "Concurrent executions" quota (Service Quotas) first.`);
  }
}

/** The CDKToolkit stack's bootstrap version, or undefined when the environment is not bootstrapped. */
function bootstrapVersion(options) {
  const result = run(options, 'aws', ['cloudformation', 'describe-stacks', '--stack-name', 'CDKToolkit', '--query', "Stacks[0].Outputs[?OutputKey=='BootstrapVersion'].OutputValue", '--output', 'text'], {
    capture: true,
    allowFailure: true,
  });
  if (options.dryRun) {
    return 'dry-run';
  }
  if (result.status !== 0) {
    if (/does not exist/.test(result.stderr ?? '')) {
      return undefined;
    }
    fail(`cannot read the CDK bootstrap stack (credentials? region?): ${(result.stderr ?? '').trim()}`);
  }
  return result.stdout.trim() || undefined;
}

function uploadConsole(options, outputs) {
  const candidates = process.env.XP_CONSOLE_DIR ? [path.resolve(process.env.XP_CONSOLE_DIR)] : CONSOLE_BUILD_DIRS.map((d) => path.join(ROOT, d));
  const dir = candidates.find((d) => existsSync(path.join(d, 'index.html')));
  if (dir === undefined) {
    const where = process.env.XP_CONSOLE_DIR ? `XP_CONSOLE_DIR (${candidates[0]}) has no index.html` : `No console web build found (${CONSOLE_BUILD_DIRS.join(' or ')}; npm run build makes one)`;
    console.log(`${where}; skipping the upload (the desktop app works against the API URL).`);
    return;
  }
  const name = `xp-${options.stage}-console`;
  // A dry run deploys nothing, so the outputs are placeholders: the stack's outputs of that name.
  const stack = options.dryRun ? { ConsoleBucket: `<${name}.ConsoleBucket>`, ConsoleDistributionId: `<${name}.ConsoleDistributionId>` } : (outputs[name] ?? {});
  if (stack.ConsoleBucket === undefined || stack.ConsoleDistributionId === undefined) {
    console.log(`The outputs of ${name} (ConsoleBucket, ConsoleDistributionId) are not in cdk-outputs-${options.stage}.json; skipping the console upload.`);
    return;
  }
  run(options, 'aws', ['s3', 'sync', dir, `s3://${stack.ConsoleBucket}`, '--delete']);
  run(options, 'aws', ['cloudfront', 'create-invalidation', '--distribution-id', stack.ConsoleDistributionId, '--paths', '/*']);
}

const parsed = parse(process.argv.slice(2));
const command = parsed.command;
const cdk = cdkBin();
const { config, isDevelopmentStage } = await checkConfig(parsed.options);
const options = resolveRegion(parsed.options, config);
if (command === 'deploy') {
  checkDeployConfig(options, config, isDevelopmentStage);
}
if (options.dryRun) {
  console.log(`dry run: printing the commands, running none (they run in ${CLOUD}; <stack.Output> marks a stack output known only after the deploy)`);
}
if (command === 'synth') {
  run(options, cdk, ['synth', '--quiet', ...contextArgs(options)]);
  console.log(options.dryRun ? 'dry run: nothing was synthesized' : `Templates for stage "${options.stage}" are in cloud/cdk.out.`);
} else if (command === 'deploy') {
  // A dry run runs no aws command: no need to start the CLI (a second or so) to see that it is there.
  if (!options.dryRun && !hasAwsCli()) {
    fail('the AWS CLI (v2) is required: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html');
  }
  checkConcurrency(options, config);
  const version = bootstrapVersion(options);
  if (options.dryRun) {
    console.log('(the answer decides: when the account/region is not bootstrapped, the deploy first runs)');
    run(options, cdk, ['bootstrap', ...contextArgs(options)]);
  } else if (version === undefined) {
    console.log('This account/region is not bootstrapped for the CDK; bootstrapping it now.');
    run(options, cdk, ['bootstrap', ...contextArgs(options)]);
  } else {
    console.log(`CDK bootstrap found (version ${version}).`);
  }
  const outputsFile = path.join(CLOUD, `cdk-outputs-${options.stage}.json`);
  run(options, cdk, ['deploy', '--all', '--require-approval', options.yes ? 'never' : 'broadening', '--outputs-file', outputsFile, ...contextArgs(options)]);
  const outputs = options.dryRun || !existsSync(outputsFile) ? {} : JSON.parse(readFileSync(outputsFile, 'utf8'));
  uploadConsole(options, outputs);
  const api = outputs[`xp-${options.stage}-api`] ?? {};
  const web = outputs[`xp-${options.stage}-console`] ?? {};
  // With the same AWS_PROFILE/AWS_REGION as every other command: the secret is in the stage's account and region.
  const passwordCommand = commandLine(options, 'aws', ['secretsmanager', 'get-secret-value', '--secret-id', api.InitialOwnerPasswordSecret ?? `xp/${options.stage}/initial-owner-password`, '--query', 'SecretString', '--output', 'text']);
  console.log('');
  if (options.dryRun) {
    console.log(`Then: the first owner's password with: ${passwordCommand}`);
    console.log('dry run: nothing was deployed');
  } else {
    console.log(`xp "${options.stage}" is deployed.`);
    console.log(`  API      ${api.ApiUrl ?? '(see cdk-outputs)'}`);
    console.log(`  Console  ${web.ConsoleUrl ?? '(see cdk-outputs)'}`);
    console.log(`  Owner password: ${passwordCommand}`);
  }
} else {
  if (config.removalPolicy === 'retain') {
    console.log(`xp-${options.stage}-data has termination protection (removalPolicy "retain"): the destroy stops there until it is turned off with ${commandLine(options, 'aws', ['cloudformation', 'update-termination-protection', '--no-enable-termination-protection', '--stack-name', `xp-${options.stage}-data`])} (docs/deploy.md#teardown).`);
  }
  run(options, cdk, ['destroy', '--all', ...(options.yes ? ['--force'] : []), ...contextArgs(options)]);
  console.log(
    options.dryRun
      ? 'dry run: nothing was destroyed'
      : 'Destroyed the stacks. Unless deployed with removalPolicy "destroy" (which leaves only a final snapshot of the Aurora cluster), the Aurora cluster (still running, with its network stack), rulesets table, event stream, failure queue, secrets, KMS key and buckets are retained: see docs/deploy.md to remove them.',
  );
}
