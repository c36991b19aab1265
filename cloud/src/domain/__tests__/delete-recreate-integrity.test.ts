/**
 * Referential integrity through deletes: a create of a key deleted earlier in the same apply is
 * checked as an update of the deleted definition; what experiments, flags and webhooks name cannot be
 * deleted from under them (holdouts, environments, flags and experiments named where no ruleset
 * compiles them), and a metric's type holds while running experiments read it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, startPlatform } from '../../http/__tests__/harness.js';

const PROJECT = 'integrity-del';
const BASE = `/api/v1/projects/${PROJECT}`;
const STARTED = '2020-01-01T00:00:00.000Z';

const experimentBody = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  key,
  name: `Experiment ${key}`,
  environments: ['development'],
  variations: [{ key: 'control' }, { key: 'treatment' }],
  ...extra,
});

describe('delete and re-create: referential integrity', () => {
  let p: Platform;
  let owner: string;
  let projectId: string;

  const request = (method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, owner, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const version = async (path: string): Promise<number> => (await must('GET', path)).version as number;
  const ruleset = async (environment = 'development'): Promise<any> => (await p.rulesets.latest(projectId, environment))!.ruleset;
  const apply = (changes: unknown[]): Promise<{ status: number; body: any }> => request('POST', `${BASE}/apply`, { changes });
  const del = async (kind: string, key: string): Promise<{ status: number; body: any }> => request('DELETE', `${BASE}/${kind}/${key}`, undefined, await version(`${BASE}/${kind}/${key}`));

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Delete integrity' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
  });
  afterAll(async () => {
    await p.close();
  });

  describe('1. a delete and a create of the same key in one apply is checked as an update', () => {
    it("refuses changing the type of a flag that is on (and another flag's prerequisite)", async () => {
      await must('POST', `${BASE}/flags`, booleanFlagBody('pa', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off' } }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('pa-child', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [{ flag: 'pa', variation: 'on' }] } }));
      const before = (await ruleset()).flags.pa;

      const res = await apply([
        { kind: 'flags', action: 'delete', key: 'pa', version: await version(`${BASE}/flags/pa`) },
        {
          kind: 'flags',
          action: 'create',
          key: 'pa',
          definition: { ...booleanFlagBody('pa', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off' } }), type: 'json', variations: [{ key: 'off', value: {} }, { key: 'on', value: { a: 1 } }] },
        },
      ]);

      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.body.error.details.issues).toEqual([{ path: 'changes[1].definition.type', message: 'cannot change from boolean while the flag is on' }]);
      expect(res.body.error.details.change).toMatchObject({ index: 1, action: 'create', key: 'pa' });
      expect((await must('GET', `${BASE}/flags/pa`)).definition.type).toBe('boolean');
      expect((await ruleset()).flags.pa).toEqual(before);
    });

    it("refuses renaming an experiment's arms that a flag rule's variations map names", async () => {
      await must('POST', `${BASE}/experiments`, experimentBody('e12'));
      const flag = {
        key: 'f12',
        name: 'f12',
        type: 'string',
        variations: [{ key: 'blue', value: 'blue' }, { key: 'red', value: 'red' }],
        environments: { development: { enabled: true, defaultVariation: 'blue', offVariation: 'blue', rules: [{ id: 'r', type: 'experiment', experiment: 'e12', variations: { control: 'blue', treatment: 'red' } }] } },
      };
      await must('POST', `${BASE}/flags`, flag);

      const res = await apply([
        { kind: 'experiments', action: 'delete', key: 'e12', version: await version(`${BASE}/experiments/e12`) },
        { kind: 'experiments', action: 'create', key: 'e12', definition: experimentBody('e12', { variations: [{ key: 'a' }, { key: 'b' }] }) },
      ]);

      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.body.error.details.change).toMatchObject({ index: 1, action: 'create', key: 'e12' });
      // The issue names the flag's rule, not a path in the experiment's body (L2).
      expect(res.body.error.details.issues[0].path).toBe('flags.f12.environments.development.rules.0.variations');
      expect((await must('GET', `${BASE}/experiments/e12`)).definition.variations.map((v: { key: string }) => v.key)).toEqual(['control', 'treatment']);
    });

    it('refuses re-hashing a holdout a running experiment uses (the delete is refused: the holdout is in use)', async () => {
      await must('POST', `${BASE}/holdouts`, { key: 'h3', name: 'h3', coverage: 0.1 });
      await must('POST', `${BASE}/experiments`, experimentBody('e6', { holdout: 'h3', status: 'running', startedAt: STARTED }));
      await must('POST', `${BASE}/flags`, { key: 'f6', name: 'f6', type: 'string', variations: [{ key: 'control', value: 'c' }, { key: 'treatment', value: 't' }], environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'r', type: 'experiment', experiment: 'e6' }] } } });
      expect((await ruleset()).holdouts.h3).toMatchObject({ hashAttribute: 'id', coverage: 0.1 });

      const res = await apply([
        { kind: 'holdouts', action: 'delete', key: 'h3', version: await version(`${BASE}/holdouts/h3`) },
        { kind: 'holdouts', action: 'create', key: 'h3', definition: { key: 'h3', name: 'h3', coverage: 0.5, hashAttribute: 'plan' } },
      ]);

      expect([res.status, res.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(res.body.error.details.experiments).toEqual(['e6']);
      expect((await ruleset()).holdouts.h3).toMatchObject({ hashAttribute: 'id', coverage: 0.1 });
    });

    it("refuses a flag deleted and created again in one apply while a running experiment's rule is in it (409), whatever the new order", async () => {
      await must('POST', `${BASE}/experiments`, experimentBody('ea', { status: 'running', startedAt: STARTED }));
      const body = (variations: { key: string; value: string }[]) => ({
        key: 'fa',
        name: 'fa',
        type: 'string',
        variations,
        environments: { development: { enabled: true, defaultVariation: variations[0]!.key, offVariation: variations[0]!.key, rules: [{ id: 'r', type: 'experiment', experiment: 'ea' }] } },
      });
      const v1 = { key: 'v1', value: 'one' };
      const v2 = { key: 'v2', value: 'two' };
      await must('POST', `${BASE}/flags`, body([v1, v2]));
      const before = (await ruleset()).flags.fa;

      const reordered = await apply([
        { kind: 'flags', action: 'delete', key: 'fa', version: await version(`${BASE}/flags/fa`) },
        { kind: 'flags', action: 'create', key: 'fa', definition: body([v2, v1]) },
      ]);
      // The delete alone is refused (the experiment would run on with no traffic from it); once it is
      // stopped, a flag created again is held to the record (running-experiment-reach.test.ts).
      expect([reordered.status, reordered.body.error?.code]).toEqual([409, 'INVALID_STATE']);
      expect(reordered.body.error.message).toContain('delivers the running experiment "ea"');
      expect((await ruleset()).flags.fa).toEqual(before);

      const same = await apply([
        { kind: 'flags', action: 'delete', key: 'fa', version: await version(`${BASE}/flags/fa`) },
        { kind: 'flags', action: 'create', key: 'fa', definition: body([v1, v2]) },
      ]);
      expect(same.status).toBe(409);
      expect((await ruleset()).flags.fa).toEqual(before);
    });

    it('names the last change a broken final state points at (details.change)', async () => {
      await must('POST', `${BASE}/flags`, booleanFlagBody('parent-l3', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off' } }));
      await must('POST', `${BASE}/flags`, booleanFlagBody('child-l3', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [{ flag: 'parent-l3', variation: 'on' }] } }));

      const res = await apply([{ kind: 'flags', action: 'delete', key: 'parent-l3', version: await version(`${BASE}/flags/parent-l3`) }]);

      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.body.error.details.change).toEqual({ index: 0, kind: 'flags', key: 'parent-l3', action: 'delete' });
      expect((await request('GET', `${BASE}/flags/parent-l3`)).status).toBe(200);
    });
  });

  it('2. refuses deleting a holdout that a draft, stopped or archived experiment names (409, naming them)', async () => {
    await must('POST', `${BASE}/holdouts`, { key: 'h-used', name: 'h-used', coverage: 0.1 });
    await must('POST', `${BASE}/holdouts`, { key: 'h-free', name: 'h-free', coverage: 0.1 });
    await must('POST', `${BASE}/experiments`, experimentBody('h-draft', { holdout: 'h-used' }));
    await must('POST', `${BASE}/experiments`, experimentBody('h-stopped', { holdout: 'h-used', status: 'stopped', startedAt: STARTED }));
    await must('POST', `${BASE}/experiments`, experimentBody('h-archived', { holdout: 'h-used', status: 'stopped', startedAt: STARTED, archived: true }));

    const used = await del('holdouts', 'h-used');
    const free = await del('holdouts', 'h-free');

    expect([used.status, used.body.error?.code, free.status]).toEqual([409, 'INVALID_STATE', 204]);
    expect(used.body.error.details.experiments).toEqual(['h-archived', 'h-draft', 'h-stopped']);
    expect((await must('GET', `${BASE}/holdouts/h-used`)).definition).toMatchObject({ hashAttribute: 'id', coverage: 0.1 });
    // The draft still starts with its holdout.
    expect((await must('POST', `${BASE}/experiments/h-draft/start`, undefined, await version(`${BASE}/experiments/h-draft`))).definition.status).toBe('running');
    expect((await ruleset()).holdouts['h-used']).toMatchObject({ hashAttribute: 'id', coverage: 0.1 });
  });

  it("3. refuses deleting an environment an experiment lists alone, trims others, and refuses starting in an environment that does not exist", async () => {
    await must('POST', `${BASE}/environments`, { key: 'qa', name: 'QA' });
    await must('POST', `${BASE}/experiments`, experimentBody('e4', { environments: ['qa'] }));
    await must('POST', `${BASE}/experiments`, experimentBody('e4-both', { environments: ['development', 'qa'] }));

    const refused = await request('DELETE', `${BASE}/environments/qa`, undefined, await version(`${BASE}/environments/qa`));
    expect([refused.status, refused.body.error?.code]).toEqual([409, 'INVALID_STATE']);
    expect(refused.body.error.details.experiments).toEqual(['e4']);
    expect((await request('GET', `${BASE}/environments/qa`)).status).toBe(200);
    expect((await must('GET', `${BASE}/experiments/e4-both`)).definition.environments).toEqual(['development', 'qa']);

    expect((await del('experiments', 'e4')).status).toBe(204);
    expect((await request('DELETE', `${BASE}/environments/qa`, undefined, await version(`${BASE}/environments/qa`))).status).toBe(204);
    expect((await must('GET', `${BASE}/experiments/e4-both`)).definition.environments).toEqual(['development']);

    // Data from before the check: an experiment that lists an environment that is gone does not start.
    await must('POST', `${BASE}/experiments`, experimentBody('e4-stale'));
    await p.db.query(`UPDATE experiments SET definition = jsonb_set(definition, '{environments}', '["gone"]') WHERE project_id = $1 AND key = 'e4-stale'`, [projectId]);
    const started = await request('POST', `${BASE}/experiments/e4-stale/start`, undefined, await version(`${BASE}/experiments/e4-stale`));
    expect([started.status, started.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(started.body.error.message).toContain('unknown environment "gone"');
    expect((await must('GET', `${BASE}/experiments/e4-stale`)).definition.status).toBe('draft');
  });

  describe('4. deletes count uses no ruleset compiles', () => {
    it('M2: refuses deleting a flag an archived flag names as a prerequisite', async () => {
      await must('POST', `${BASE}/flags`, booleanFlagBody('m2-parent'));
      await must('POST', `${BASE}/flags`, { ...booleanFlagBody('m2-child', { development: { enabled: false, defaultVariation: 'on', offVariation: 'off', prerequisites: [{ flag: 'm2-parent', variation: 'on' }] } }), archived: true });

      const res = await del('flags', 'm2-parent');

      expect([res.status, res.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.body.error.details.problems).toEqual(['flags.m2-child.environments.development.prerequisites[0]: archived flag "m2-child" names flag "m2-parent"']);
      expect((await ruleset()).flags['m2-parent']).toBeDefined();
    });

    it('M3: refuses deleting an experiment an archived flag or a disabled rule names', async () => {
      await must('POST', `${BASE}/experiments`, experimentBody('m3-archived'));
      await must('POST', `${BASE}/experiments`, experimentBody('m3-disabled'));
      const flag = (key: string, experiment: string, extra: Record<string, unknown>, rule: Record<string, unknown> = {}) => ({
        key,
        name: key,
        type: 'string',
        variations: [{ key: 'blue', value: 'blue' }, { key: 'red', value: 'red' }],
        environments: { development: { enabled: false, defaultVariation: 'blue', offVariation: 'blue', rules: [{ id: 'r', type: 'experiment', experiment, variations: { control: 'blue', treatment: 'red' }, ...rule }] } },
        ...extra,
      });
      await must('POST', `${BASE}/flags`, flag('m3-flag-archived', 'm3-archived', { archived: true }));
      await must('POST', `${BASE}/flags`, flag('m3-flag-disabled', 'm3-disabled', {}, { enabled: false }));

      const archived = await del('experiments', 'm3-archived');
      const disabled = await del('experiments', 'm3-disabled');

      expect([archived.status, disabled.status]).toEqual([400, 400]);
      expect(archived.body.error.details.problems).toEqual(['flags.m3-flag-archived.environments.development.rules[0].experiment: archived flag "m3-flag-archived" names experiment "m3-archived"']);
      expect(disabled.body.error.details.problems).toEqual(['flags.m3-flag-disabled.environments.development.rules[0].experiment: disabled rule "r" names experiment "m3-disabled"']);
      expect((await request('GET', `${BASE}/experiments/m3-archived`)).status).toBe(200);
      expect((await request('GET', `${BASE}/experiments/m3-disabled`)).status).toBe(200);
    });
  });

  it("5. refuses changing the type of a metric a running experiment uses (409, naming it), and through a delete and create in one apply", async () => {
    await must('POST', `${BASE}/metrics`, { key: 'm5', name: 'm5', type: 'conversion', event: 'buy' });
    await must('POST', `${BASE}/metrics`, { key: 'm5-pw', name: 'm5-pw', type: 'count', event: 'crash', higherIsBetter: false, guardrail: true });
    await must('POST', `${BASE}/experiments`, experimentBody('e5', { status: 'running', startedAt: STARTED, metrics: { primary: ['m5'], secondary: [], guardrails: [] } }));
    const ratio = { type: 'ratio', numerator: { event: 'buy', aggregation: 'count' }, denominator: { event: 'visit', aggregation: 'count' } };

    const current = await must('GET', `${BASE}/metrics/m5`);
    const { event: _event, ...rest } = current.definition;
    const put = await request('PUT', `${BASE}/metrics/m5`, { ...rest, ...ratio }, current.version);
    const pw = await apply([
      { kind: 'metrics', action: 'delete', key: 'm5-pw', version: await version(`${BASE}/metrics/m5-pw`) },
      { kind: 'metrics', action: 'create', key: 'm5-pw', definition: { key: 'm5-pw', name: 'm5-pw', type: 'sum', event: 'crash', property: 'n', higherIsBetter: false, guardrail: true } },
    ]);
    const renamed = await request('PUT', `${BASE}/metrics/m5`, { ...current.definition, name: 'Buys' }, current.version);

    expect([put.status, put.body.error?.code, pw.status, pw.body.error?.code, renamed.status]).toEqual([409, 'INVALID_STATE', 409, 'INVALID_STATE', 200]);
    expect(put.body.error.details.experiments).toContain('e5');
    expect(pw.body.error.details.experiments).toContain('e5');
    expect((await must('GET', `${BASE}/metrics/m5`)).definition.type).toBe('conversion');
    expect((await must('GET', `${BASE}/metrics/m5-pw`)).definition.type).toBe('count');
  });

  it("6. takes a deleted environment out of webhooks' filters, disabling one filtered on it alone", async () => {
    await must('POST', `${BASE}/environments`, { key: 'qa2', name: 'QA 2' });
    const only = (await must('POST', `${BASE}/webhooks`, { name: 'only', url: 'https://hooks.example.com/only', environments: ['qa2'] })).webhook;
    const both = (await must('POST', `${BASE}/webhooks`, { name: 'both', url: 'https://hooks.example.com/both', environments: ['development', 'qa2'] })).webhook;

    expect((await request('DELETE', `${BASE}/environments/qa2`, undefined, await version(`${BASE}/environments/qa2`))).status).toBe(204);
    await must('POST', `${BASE}/environments`, { key: 'qa2', name: 'QA 2 again' });

    const a = await must('GET', `${BASE}/webhooks/${only.id}`);
    const b = await must('GET', `${BASE}/webhooks/${both.id}`);
    expect([a.enabled, a.environments, b.enabled, b.environments]).toEqual([false, [], true, ['development']]);
    const enabled = await request('PATCH', `${BASE}/webhooks/${only.id}`, { enabled: true }, a.version);
    expect([enabled.status, enabled.body.error?.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((await must('PATCH', `${BASE}/webhooks/${only.id}`, { enabled: true, environments: ['qa2'] }, a.version)).enabled).toBe(true);
  });
});
