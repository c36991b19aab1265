import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

interface Step {
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
}
interface Job {
  readonly uses?: string;
  readonly needs?: string | string[];
  readonly services?: Record<string, { image: string }>;
  readonly steps?: Step[];
  readonly env?: Record<string, string>;
}
interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions: Record<string, string>;
  readonly jobs: Record<string, Job>;
}

/** The stages the deploy workflow may deploy, each a protected GitHub environment with its own AWS role (docs/deploy.md). */
const KNOWN_STAGES = ['dev', 'prod'];

const load = async (name: string): Promise<Workflow> => YAML.parse(await readFile(path.join(ROOT, '.github', 'workflows', name), 'utf8')) as Workflow;
const runs = (job: Job): string => (job.steps ?? []).map((s) => s.run ?? '').join('\n');

describe('GitHub workflows', () => {
  it('ci: installs, type-checks, lints and tests with PostgreSQL and Redis services and Chromium', async () => {
    const ci = await load('ci.yml');
    const job = ci.jobs.test!;

    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push', 'workflow_call']);
    expect(ci.permissions).toEqual({ contents: 'read' });
    expect(job.services?.postgres?.image).toMatch(/^postgres:15/);
    expect(job.services?.redis?.image).toMatch(/^redis:7/);
    expect(runs(job)).toMatch(/npm ci[\s\S]*npm run typecheck[\s\S]*npm run lint[\s\S]*npm run test:unit/);
    expect(runs(job)).toContain('apt-get install -y -qq --no-install-recommends chromium');
  });

  it('deploy: on main and by hand with a stage input; tests first, then synth and deploy under an OIDC-assumed role (synth after it: a pinned account makes synth look up zones)', async () => {
    const deploy = await load('deploy.yml');
    const job = deploy.jobs.deploy!;
    const steps = job.steps ?? [];
    const credentials = steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@') === true);

    expect(deploy.on.push).toEqual({ branches: ['main'] });
    // A choice of the known stages, never free text: a new name would be a new, unprotected GitHub environment.
    expect((deploy.on.workflow_dispatch as { inputs: Record<string, unknown> }).inputs.stage).toEqual({ description: expect.any(String), required: true, default: 'dev', type: 'choice', options: KNOWN_STAGES });
    expect(deploy.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    expect(deploy.jobs.test?.uses).toBe('./.github/workflows/ci.yml');
    expect(job.needs).toBe('test');
    expect(credentials?.with).toMatchObject({ 'role-to-assume': '${{ vars.AWS_DEPLOY_ROLE_ARN }}', 'aws-region': '${{ vars.AWS_REGION }}' });
    expect(credentials?.with).not.toHaveProperty('aws-access-key-id');
    expect(steps.indexOf(credentials!)).toBeGreaterThan(-1);
    expect(steps.findIndex((s) => s.run?.includes('npm run synth') === true)).toBeGreaterThan(steps.indexOf(credentials!));
    expect(runs(job)).toContain('deploy.mjs deploy --stage "$STAGE"');
    // The stage reaches shell commands only through an environment variable (no expression injection).
    expect(runs(job)).not.toContain('${{');
  });

  it('deploy: runs in the GitHub environment named after the stage, and refuses any stage but the known ones before checkout or the role', async () => {
    const deploy = await load('deploy.yml');
    const job = deploy.jobs.deploy! as Job & { environment?: string };
    const steps = job.steps ?? [];
    const check = steps.find((s) => s.name === 'Check the stage name')!;
    const credentials = steps.findIndex((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@') === true);
    const run = (stage: string): number | null => spawnSync('bash', ['-e', '-c', check.run!], { env: { PATH: process.env.PATH ?? '', STAGE: stage }, encoding: 'utf8' }).status;

    expect(job.environment).toBe("${{ inputs.stage || vars.XP_DEFAULT_STAGE || 'prod' }}");
    expect(steps.indexOf(check)).toBe(0);
    expect(credentials).toBeGreaterThan(0);
    expect(KNOWN_STAGES.map(run)).toEqual(KNOWN_STAGES.map(() => 0));
    expect(['staging', 'prod2', 'evil', 'prod ', ''].map(run)).toEqual([1, 1, 1, 1, 1]);
  });

  it("deploy: passes the stage's configuration to synth and deploy, and never acknowledges a missing alarmEmail, default adminEmail or destroy policy", async () => {
    const deploy = await load('deploy.yml');
    const job = deploy.jobs.deploy!;
    const steps = job.steps ?? [];
    const deployStep = steps.find((s) => s.run?.includes('deploy.mjs deploy') === true)!;
    const synthStep = steps.find((s) => s.run?.includes('npm run synth') === true)!;
    const configStep = steps.findIndex((s) => s.run?.includes('XP_CONFIG_FILE=') === true);

    expect(job.env?.XP_CONFIG).toBe('${{ vars.XP_CONFIG }}');
    expect(configStep).toBeGreaterThan(-1);
    expect(configStep).toBeLessThan(steps.indexOf(synthStep));
    for (const step of [deployStep, synthStep]) {
      expect(step.run).toContain('${XP_CONFIG_FILE:+--config "$XP_CONFIG_FILE"}');
    }
    expect(runs(job)).not.toMatch(/--allow-missing-alarm-email|--allow-default-admin-email|--allow-destroy-policy/);
  });

  it("deploy: the configuration step fails a stage other than dev that has none, and writes the XP_CONFIG variable's JSON", async () => {
    const deploy = await load('deploy.yml');
    const script = (deploy.jobs.deploy!.steps ?? []).find((s) => s.run?.includes('XP_CONFIG_FILE=') === true)!.run!;
    const dir = mkdtempSync(path.join(tmpdir(), 'xp-workflow-'));
    try {
      const run = (env: Record<string, string>): { status: number | null; stdout: string; githubEnv: string } => {
        const githubEnv = path.join(dir, `env-${Math.random().toString(36).slice(2)}`);
        writeFileSync(githubEnv, '');
        const r = spawnSync('bash', ['-e', '-c', script], { cwd: dir, env: { PATH: process.env.PATH ?? '', RUNNER_TEMP: dir, GITHUB_ENV: githubEnv, XP_CONFIG: '', ...env }, encoding: 'utf8' });
        return { status: r.status, stdout: r.stdout, githubEnv: readFileSync(githubEnv, 'utf8') };
      };
      const missing = run({ STAGE: 'prod' });
      const fromVariable = run({ STAGE: 'prod', XP_CONFIG: '{ "alarmEmail": "ops@example.com" }' });
      const dev = run({ STAGE: 'dev' });

      expect(missing.status).toBe(1);
      expect(missing.stdout).toContain("::error::stage 'prod' has no configuration");
      expect(missing.githubEnv).toBe('');
      expect(fromVariable.status).toBe(0);
      expect(fromVariable.githubEnv).toBe(`XP_CONFIG_FILE=${path.join(dir, 'xp-prod.config.json')}\n`);
      expect(JSON.parse(readFileSync(path.join(dir, 'xp-prod.config.json'), 'utf8'))).toEqual({ alarmEmail: 'ops@example.com' });
      expect(dev.status).toBe(0);
      expect(dev.githubEnv).toBe('XP_CONFIG_FILE=\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
