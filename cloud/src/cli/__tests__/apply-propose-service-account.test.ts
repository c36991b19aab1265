/** `xp apply --propose` names a service account that proposed a request by its name, not by its id. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { XpApiClient } from '@xp/shared';
import { silentLogger } from '../../domain/context.js';
import { configFromEnv, startLocalStack } from '../../local/stack.js';
import type { LocalStack } from '../../local/stack.js';
import { main } from '../xp.js';

const PASSWORD = 'apply propose robot passphrase';

describe('xp apply --propose and a service account\'s change request', () => {
  let dir: string;
  let stack: LocalStack;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-propose-robot-'));
    stack = await startLocalStack(configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'owner@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0' }), {
      logger: silentLogger,
      print: () => undefined,
    });
  }, 60_000);
  afterAll(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, env, (l) => out.push(l), (l) => err.push(l));
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('warns of a request a service account proposed as "<name> (service account)"', async () => {
    const api = new XpApiClient({ apiUrl: stack.apiUrl });
    const ownerToken = (await api.login('owner@example.com', PASSWORD)).token;
    const owner = api.withToken(ownerToken);
    const bot = await owner.createServiceAccount({ name: 'deploy-bot', role: 'editor' });
    const robot = api.withToken((await owner.createServiceAccountToken(bot.id, { name: 'ci' })).token);

    const file = path.join(dir, 'demo.yaml');
    expect((await run(['export', '--project', 'demo', '--out', file], { XP_API_URL: stack.apiUrl, XP_TOKEN: ownerToken })).code).toBe(0);
    expect(YAML.parse(await readFile(file, 'utf8')).flags.length).toBeGreaterThan(0);
    const current = await owner.get('demo', 'flags', 'new-checkout');
    const production = current.definition.environments.production!;
    const theirs = await robot.proposeChange('demo', { resourceKey: 'new-checkout', environment: 'production', state: { ...production, enabled: !production.enabled }, baseVersion: current.version });

    const applied = await run(['apply', file, '--propose'], { XP_API_URL: stack.apiUrl, XP_TOKEN: ownerToken });
    expect(applied.code).toBe(0);
    expect(applied.err).toMatch(new RegExp(`^warning: change request ${theirs.id} by deploy-bot \\(service account\\) proposes another state for flag new-checkout in production than the document`));
  }, 60_000);
});
