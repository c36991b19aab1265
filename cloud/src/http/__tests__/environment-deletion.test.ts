/**
 * Deleting an environment: refused while a running experiment names it; otherwise it takes its
 * state from every definition (each with a new version and audit entry), and an environment created
 * again under the key starts with a fresh ruleset. And a project's key cannot be renamed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, startPlatform } from './harness.js';

const BASE = '/api/v1/projects/envdel';

describe('deleting an environment', () => {
  let p: Platform;
  let owner = '';
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const send = (method: string, path: string, body?: unknown, version?: number) => requestAs(p, owner, method, path, body, version);
  const experiment = (key: string, extra: Record<string, unknown>) => ({ key, name: key, variations: [{ key: 'control' }, { key: 'treatment' }], ...extra });
  const published = async (env: string) => (await must('GET', `${BASE}/environments/${env}/ruleset`)) as { expectedVersion: number; published: { version: number; publishedAt: string; ruleset: any } | null };
  const audit = async (query: string) => ((await must('GET', `/api/v1/audit?project=envdel&limit=200&${query}`)) as { items: { action: string; resourceKey: string; environment: string | null }[] }).items;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: 'envdel', name: 'Environment deletion', environments: [{ key: 'development', name: 'Development' }, { key: 'production', name: 'Production', production: true }] });
  }, 120_000);
  afterAll(async () => {
    await p.close();
  });

  it('refuses while a running experiment names the environment, naming it; deletes it once stopped, taking it out of every definition', async () => {
    const tmp = (await must('POST', `${BASE}/environments`, { key: 'tmp', name: 'Temporary' })) as { version: number };
    const off = { enabled: false, defaultVariation: 'on', offVariation: 'off', rules: [{ id: 'r1', type: 'force', condition: { country: 'DE' }, variation: 'on' }] };
    await must('POST', `${BASE}/flags`, booleanFlagBody('targeted', { development: { enabled: false, defaultVariation: 'on', offVariation: 'off' }, tmp: off }));
    await must('POST', `${BASE}/flags`, booleanFlagBody('untouched'));
    const running = (await must('POST', `${BASE}/experiments`, experiment('exp-tmp', { status: 'running', environments: ['tmp', 'development'] }))) as { version: number };
    await must('POST', `${BASE}/experiments`, experiment('exp-draft', { environments: ['development', 'tmp'] }));
    await must('POST', `${BASE}/experiments`, experiment('exp-everywhere', { status: 'running' }));

    const refused = await send('DELETE', `${BASE}/environments/tmp`, undefined, tmp.version);

    expect([refused.status, refused.body.error.code]).toEqual([409, 'INVALID_STATE']);
    expect(refused.body.error.message).toContain('exp-tmp');
    expect(refused.body.error.message).not.toContain('exp-everywhere');
    expect(refused.body.error.details.experiments).toEqual(['exp-tmp']);
    expect((await send('GET', `${BASE}/environments/tmp`)).status).toBe(200);

    await must('POST', `${BASE}/experiments/exp-tmp/stop`, { decision: 'inconclusive' }, running.version);
    const stopped = (await must('GET', `${BASE}/experiments/exp-tmp`)) as { version: number };
    const flagBefore = (await must('GET', `${BASE}/flags/targeted`)) as { version: number };
    const untouchedBefore = (await must('GET', `${BASE}/flags/untouched`)) as { version: number };
    const oldRuleset = await published('tmp');
    expect(oldRuleset.published?.ruleset.flags.targeted).toBeDefined();

    expect((await send('DELETE', `${BASE}/environments/tmp`, undefined, tmp.version)).status).toBe(204);

    const flag = (await must('GET', `${BASE}/flags/targeted`)) as { version: number; definition: { environments: Record<string, unknown> } };
    expect([flag.version, Object.keys(flag.definition.environments)]).toEqual([flagBefore.version + 1, ['development']]);
    expect(((await must('GET', `${BASE}/flags/untouched`)) as { version: number }).version).toBe(untouchedBefore.version);
    const exp = (await must('GET', `${BASE}/experiments/exp-tmp`)) as { version: number; definition: { environments: string[]; status: string } };
    expect([exp.version, exp.definition.environments, exp.definition.status]).toEqual([stopped.version + 1, ['development'], 'stopped']);
    expect(((await must('GET', `${BASE}/experiments/exp-draft`)) as { definition: { environments: string[] } }).definition.environments).toEqual(['development']);
    const entries = (await audit('environment=tmp')).map((e) => `${e.action} ${e.resourceKey}`);
    expect(entries).toEqual(expect.arrayContaining(['environment.deleted tmp', 'flag.updated targeted', 'experiment.updated exp-tmp', 'experiment.updated exp-draft']));
    expect(entries.filter((e) => e.includes('untouched') || e.includes('exp-everywhere'))).toEqual([]);

    // Created again, the environment starts afresh: no old targeting, a new ruleset version.
    await must('POST', `${BASE}/environments`, { key: 'tmp', name: 'Temporary again' });
    const fresh = await published('tmp');
    expect(fresh.published?.version).toBe(fresh.expectedVersion);
    expect(fresh.published!.version).toBeGreaterThan(oldRuleset.published!.version);
    expect(fresh.published!.ruleset.flags.targeted.rules ?? []).toEqual([]);
    expect(fresh.published!.ruleset.experiments?.['exp-tmp']).toBeUndefined();
  });

  it('publishes a new ruleset version for an environment created again even when its content is the same', async () => {
    const env = (await must('POST', `${BASE}/environments`, { key: 'bare', name: 'Bare' })) as { version: number };
    const first = await published('bare');

    await must('DELETE', `${BASE}/environments/bare`, undefined, env.version);
    await must('POST', `${BASE}/environments`, { key: 'bare', name: 'Bare' });
    const again = await published('bare');

    expect(again.published!.version).toBeGreaterThan(first.published!.version);
    expect(again.published!.version).toBe(again.expectedVersion);
  });

  it('says a project key cannot be renamed, as for environments; the current key is accepted', async () => {
    const project = (await must('GET', BASE)) as { version: number };

    const renamed = await send('PATCH', BASE, { key: 'webshop' }, project.version);
    const same = await send('PATCH', BASE, { key: 'envdel', name: 'Environment deletion' }, project.version);

    expect([renamed.status, renamed.body.error.code, renamed.body.error.message, renamed.body.error.details.issues[0].path]).toEqual([400, 'VALIDATION_FAILED', 'project keys cannot be renamed', 'key']);
    expect([same.status, same.body.key, same.body.version]).toEqual([200, 'envdel', project.version]);
  });
});
