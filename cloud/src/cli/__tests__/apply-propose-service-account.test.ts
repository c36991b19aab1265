/** `xp apply --propose` names a service account that proposed a request by its name, not by its id. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { XpApiClient } from '@xp/shared';
import { runXpText, useLocalPlatform } from './cli-over-http.js';

const PASSWORD = 'apply propose robot passphrase';

describe('xp apply --propose and a service account\'s change request', () => {
  const local = useLocalPlatform('xp-propose-robot-', PASSWORD);
  const run = runXpText;

  it('warns of a request a service account proposed as "<name> (service account)"', async () => {
    const api = new XpApiClient({ apiUrl: local.stack.apiUrl });
    const ownerToken = (await api.login('owner@example.com', PASSWORD)).token;
    const owner = api.withToken(ownerToken);
    const bot = await owner.createServiceAccount({ name: 'deploy-bot', role: 'editor' });
    const robot = api.withToken((await owner.createServiceAccountToken(bot.id, { name: 'ci' })).token);

    const file = path.join(local.dir, 'demo.yaml');
    expect((await run(['export', '--project', 'demo', '--out', file], { XP_API_URL: local.stack.apiUrl, XP_TOKEN: ownerToken })).code).toBe(0);
    expect(YAML.parse(await readFile(file, 'utf8')).flags.length).toBeGreaterThan(0);
    const current = await owner.get('demo', 'flags', 'new-checkout');
    const production = current.definition.environments.production!;
    const theirs = await robot.proposeChange('demo', { resourceKey: 'new-checkout', environment: 'production', state: { ...production, enabled: !production.enabled }, baseVersion: current.version });

    const applied = await run(['apply', file, '--propose'], { XP_API_URL: local.stack.apiUrl, XP_TOKEN: ownerToken });
    expect(applied.code).toBe(0);
    expect(applied.err).toMatch(new RegExp(`^warning: change request ${theirs.id} by deploy-bot \\(service account\\) proposes another state for flag new-checkout in production than the document`));
  }, 60_000);
});
