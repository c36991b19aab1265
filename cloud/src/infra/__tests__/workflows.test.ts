import { readFile } from 'node:fs/promises';
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

  it('deploy: on main and by hand with a stage input; tests first, then synth and deploy under an OIDC-assumed role', async () => {
    const deploy = await load('deploy.yml');
    const job = deploy.jobs.deploy!;
    const steps = job.steps ?? [];
    const credentials = steps.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@') === true);

    expect(deploy.on.push).toEqual({ branches: ['main'] });
    expect((deploy.on.workflow_dispatch as { inputs: Record<string, unknown> }).inputs.stage).toMatchObject({ required: true, type: 'string' });
    expect(deploy.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    expect(deploy.jobs.test?.uses).toBe('./.github/workflows/ci.yml');
    expect(job.needs).toBe('test');
    expect(credentials?.with).toMatchObject({ 'role-to-assume': '${{ vars.AWS_DEPLOY_ROLE_ARN }}', 'aws-region': '${{ vars.AWS_REGION }}' });
    expect(credentials?.with).not.toHaveProperty('aws-access-key-id');
    expect(steps.findIndex((s) => s.run?.includes('npm run synth') === true)).toBeLessThan(steps.indexOf(credentials!));
    expect(runs(job)).toContain('deploy.mjs deploy --stage "$STAGE"');
    // The stage reaches shell commands only through an environment variable (no expression injection).
    expect(runs(job)).not.toContain('${{');
  });
});
