/**
 * `xp flags off|on` against the real API over HTTP (PGlite): an owner's toggle, an editor's
 * emergency off where production allows it, the refusal (with the way to propose) where it does
 * not, an idempotent off, and usage errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWNER, booleanFlagBody, mustAs, startPlatform } from '../../http/__tests__/harness.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { runXp, serveApi } from './cli-over-http.js';

const DEMO = '/api/v1/projects/demo';
const ON = { enabled: true, defaultVariation: 'on', offVariation: 'off' };

describe('xp flags off|on', () => {
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
  const flag = async (key: string): Promise<{ version: number; definition: { environments: Record<string, { enabled: boolean }> } }> => mustAs(p, owner, 'GET', `${DEMO}/flags/${key}`);
  const allowEditorsOff = async (value: boolean): Promise<void> => {
    const env = (await mustAs(p, owner, 'GET', `${DEMO}/environments/production`)) as { version: number };
    await mustAs(p, owner, 'PUT', `${DEMO}/environments/production`, { key: 'production', name: 'Production', production: true, requireApproval: true, editorsMayTurnOff: value }, env.version);
  };

  it('turns a flag off and on at its current version, and says so', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('cli-kill', { development: ON, production: ON }));
    // A change made since creation: the command reads the version rather than assuming it.
    await mustAs(p, owner, 'POST', `${DEMO}/flags/cli-kill/environments/development/toggle`, { enabled: false }, 1);

    expect(await run(['off', 'cli-kill', '--project', 'demo', '--env', 'production'], asOwner)).toEqual({ code: 0, out: 'Turned cli-kill off in production (version 3).', err: '' });
    expect((await flag('cli-kill')).definition.environments.production!.enabled).toBe(false);
    expect(await run(['on', 'cli-kill', '--project', 'demo', '--environment', 'production'], asOwner)).toEqual({ code: 0, out: 'Turned cli-kill on in production (version 4).', err: '' });
    const audit = (await mustAs(p, owner, 'GET', '/api/v1/audit?project=demo&resourceType=flag&resourceKey=cli-kill')) as { items: { action: string; client: string }[] };
    expect(audit.items.slice(0, 2).map((e) => `${e.action} via ${e.client}`)).toEqual(['flag.enabled via cli', 'flag.disabled via cli']);
  });

  it('says the API\'s refusal and how to propose instead when an editor may not turn it off in production', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('cli-guarded', { production: ON }));
    const refused = await run(['off', 'cli-guarded', '--project', 'demo', '--env', 'production'], asEditor);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    const [message, hint] = refused.err.split('\n');
    expect(message).toMatch(/^error: .*"production"/);
    expect(hint).toContain('xp apply --propose');
    expect(hint).toContain('console');
    expect(hint).toContain('editors may turn flags off');
    expect((await flag('cli-guarded')).version).toBe(1);
  });

  it('lets an editor turn a flag off where production allows it, but not on', async () => {
    await allowEditorsOff(true);
    try {
      await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('cli-emergency', { production: ON }));
      expect(await run(['off', 'cli-emergency', '--project', 'demo', '--env', 'production'], asEditor)).toEqual({ code: 0, out: 'Turned cli-emergency off in production (version 2).', err: '' });
      const on = await run(['on', 'cli-emergency', '--project', 'demo', '--env', 'production'], asEditor);
      expect(on.code).toBe(1);
      expect(on.err).toContain('xp apply --propose');
      expect(on.err).not.toContain('editors may turn flags off');
      // Off already: nothing to do, exit 0.
      expect(await run(['off', 'cli-emergency', '--project', 'demo', '--env', 'production'], asEditor)).toEqual({ code: 0, out: 'cli-emergency is already off in production (version 2).', err: '' });
      expect((await flag('cli-emergency')).version).toBe(2);
    } finally {
      await allowEditorsOff(false);
    }
  });

  it('answers usage errors with exit code 2 and missing options or unknown flags with 1', async () => {
    const unknownSub = await run(['kill', 'x', '--project', 'demo', '--env', 'production'], asOwner);
    expect([unknownSub.code, unknownSub.err]).toEqual([2, expect.stringContaining('unknown flags subcommand "kill"')]);
    expect((await run(['off', '--project', 'demo', '--env', 'production'], asOwner)).code).toBe(2);
    expect((await run(['off', 'a', 'b', '--project', 'demo', '--env', 'production'], asOwner)).code).toBe(2);
    const noEnv = await run(['off', 'cli-kill', '--project', 'demo'], asOwner);
    expect([noEnv.code, noEnv.err]).toEqual([1, expect.stringContaining('needs --env')]);
    const missing = await run(['off', 'no-such-flag', '--project', 'demo', '--env', 'production'], asOwner);
    expect([missing.code, missing.err]).toEqual([1, expect.stringContaining('no-such-flag')]);
    const noToken = await run(['off', 'cli-kill', '--project', 'demo', '--env', 'production'], { XP_API_URL: asOwner.XP_API_URL });
    expect([noToken.code, noToken.err]).toEqual([1, expect.stringContaining('XP_TOKEN')]);
  });
});
