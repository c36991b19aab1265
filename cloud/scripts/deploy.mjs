#!/usr/bin/env node
// `npm run synth | deploy | destroy -- [--stage prod] [--profile p] [--region r] [--config file] [--yes] [--dry-run]`
// synth: CloudFormation templates in cloud/cdk.out (offline). deploy: checks the CDK bootstrap of the
// target account/region (bootstraps it when missing), deploys every stack, uploads the console web
// build when one exists, and prints the URLs. destroy: removes the stacks; data stores are retained
// unless the stage was deployed with removalPolicy "destroy".
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLOUD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = path.resolve(CLOUD, '..');
const CONSOLE_BUILD_DIRS = ['desktop/dist/web', 'desktop/dist/renderer'];

function parse(argv) {
  const [command, ...rest] = argv;
  const options = { stage: 'dev', yes: false, dryRun: false };
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
    } else {
      fail(`unknown option ${arg}`);
    }
  }
  if (!['synth', 'deploy', 'destroy'].includes(command)) {
    fail('usage: deploy.mjs synth|deploy|destroy [--stage NAME] [--profile P] [--region R] [--config FILE] [--yes] [--dry-run]');
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

function run(options, cmd, args, { capture = false, allowFailure = false } = {}) {
  const env = { ...process.env, ...(options.profile ? { AWS_PROFILE: options.profile } : {}), ...(options.region ? { AWS_REGION: options.region, CDK_DEFAULT_REGION: options.region } : {}) };
  console.log(`$ ${[cmd, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
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
const hasAwsCli = () => spawnSync('aws', ['--version'], { stdio: 'ignore' }).status === 0;

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
  const dir = CONSOLE_BUILD_DIRS.map((d) => path.join(ROOT, d)).find((d) => existsSync(path.join(d, 'index.html')));
  const stack = outputs[`xp-${options.stage}-console`] ?? {};
  if (dir === undefined || stack.ConsoleBucket === undefined) {
    console.log(`No console web build found (${CONSOLE_BUILD_DIRS.join(' or ')}); skipping the upload. The desktop app works against the API URL below.`);
    return;
  }
  run(options, 'aws', ['s3', 'sync', dir, `s3://${stack.ConsoleBucket}`, '--delete']);
  run(options, 'aws', ['cloudfront', 'create-invalidation', '--distribution-id', stack.ConsoleDistributionId, '--paths', '/*']);
}

const { command, options } = parse(process.argv.slice(2));
const cdk = cdkBin();
if (command === 'synth') {
  run(options, cdk, ['synth', '--quiet', ...contextArgs(options)]);
  console.log(`Templates for stage "${options.stage}" are in cloud/cdk.out.`);
} else if (command === 'deploy') {
  if (!hasAwsCli() && !options.dryRun) {
    fail('the AWS CLI (v2) is required: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html');
  }
  const version = bootstrapVersion(options);
  if (version === undefined) {
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
  console.log('');
  console.log(`xp "${options.stage}" is deployed.`);
  console.log(`  API      ${api.ApiUrl ?? '(see cdk-outputs)'}`);
  console.log(`  Console  ${web.ConsoleUrl ?? '(see cdk-outputs)'}`);
  console.log(`  Owner password: aws secretsmanager get-secret-value --secret-id ${api.InitialOwnerPasswordSecret ?? `xp/${options.stage}/initial-owner-password`} --query SecretString --output text`);
} else {
  run(options, cdk, ['destroy', '--all', ...(options.yes ? ['--force'] : []), ...contextArgs(options)]);
  console.log('Destroyed the stacks. Unless deployed with removalPolicy "destroy", the Aurora cluster (still running, with its network stack), rulesets table, event stream, failure queue, secrets, KMS key and buckets are retained: see docs/deploy.md to remove them.');
}
