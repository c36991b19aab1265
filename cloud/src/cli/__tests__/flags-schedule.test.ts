/**
 * `xp flags off|on --at` against the real API over HTTP (PGlite): a change scheduled for a time,
 * applied by the job when due, and the refusal where the change needs approval.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduledChangeService } from '../../domain/scheduled-changes.js';
import { OWNER, booleanFlagBody, mustAs, startPlatform } from '../../http/__tests__/harness.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { runXp, serveApi } from './cli-over-http.js';

const DEMO = '/api/v1/projects/demo';
const OFF = { enabled: false, defaultVariation: 'on', offVariation: 'off' };

describe('xp flags off|on --at', () => {
  let p: Platform;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let owner: string;
  let asOwner: NodeJS.ProcessEnv;
  let asEditor: NodeJS.ProcessEnv;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    api = await serveApi(p);
    const apiUrl = api.url;
    owner = await p.login(OWNER.email, OWNER.password);
    await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'editor@example.com', name: 'Editor', role: 'editor', password: 'a much longer passphrase 42' });
    asOwner = { XP_API_URL: apiUrl, XP_TOKEN: owner };
    asEditor = { XP_API_URL: apiUrl, XP_TOKEN: await p.login('editor@example.com', 'a much longer passphrase 42') };
  }, 60_000);
  afterAll(async () => {
    await api.close();
    await p.close();
  });

  const run = async (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> => {
    const { code, out, err } = await runXp(['flags', ...args], env);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('schedules turning a flag on at a time, which the job applies when due, and not before', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('cli-later', { development: OFF }));
    const at = new Date(p.now.value.getTime() + 3_600_000);

    const scheduled = await run(['on', 'cli-later', '--project', 'demo', '--env', 'development', '--at', at.toISOString()], asOwner);
    const before = (await mustAs(p, owner, 'GET', `${DEMO}/flags/cli-later`)).definition.environments.development.enabled as boolean;
    p.now.value = at;
    await new ScheduledChangeService(p.services.deps).runDue();
    const after = (await mustAs(p, owner, 'GET', `${DEMO}/flags/cli-later`)).definition.environments.development.enabled as boolean;

    expect(scheduled.code).toBe(0);
    expect(scheduled.out).toMatch(new RegExp(`^Scheduled cli-later on in development at ${at.toISOString().replace(/\./g, '\\.')} \\(UTC\\), change [0-9a-f-]+;`));
    expect([before, after]).toEqual([false, true]);
  });

  it('refuses an editor in a protected environment, saying how to go on', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('cli-later-prod', { production: OFF }));

    const refused = await run(['on', 'cli-later-prod', '--project', 'demo', '--env', 'production', '--at', new Date(p.now.value.getTime() + 3_600_000).toISOString()], asEditor);

    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^error: changes to "production" need an approved change request/);
    expect(refused.err).toMatch(/a change request with applyAt/);
  });
});
