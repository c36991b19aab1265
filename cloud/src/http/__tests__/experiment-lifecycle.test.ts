import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, startPlatform } from './harness.js';

const BASE = '/api/v1/projects/demo/experiments';

const body = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  key,
  name: `Experiment ${key}`,
  variations: [{ key: 'control' }, { key: 'treatment' }],
  ...extra,
});

describe('experiment lifecycle through the API', () => {
  let p: Platform;
  let owner: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  const send = (method: string, path: string, payload?: unknown, version?: number): ReturnType<Platform['request']> =>
    p.request(method, path, { token: owner, ...(payload === undefined ? {} : { body: payload }), ...(version === undefined ? {} : { headers: { 'If-Match': `"${version}"` } }) });

  it('creates an experiment in a state the lifecycle actions could have left it in, and no other', async () => {
    const paths = (res: Awaited<ReturnType<typeof send>>): string[] => (res.body.error?.details?.issues ?? []).map((i: { path: string }) => i.path);
    const now = p.now.value.toISOString();
    const running = await send('POST', BASE, body('lc-new-run', { status: 'running' }));
    const imported = await send('POST', BASE, body('lc-new-imported', { status: 'running', startedAt: '2026-01-05T00:00:00.000Z' }));
    const stopped = await send('POST', BASE, body('lc-new-stopped', { status: 'stopped', startedAt: '2026-01-05T00:00:00.000Z', decision: 'ship', winner: 'treatment', releaseWinner: true }));
    const undatedDraft = await send('POST', BASE, body('lc-bad-1', { startedAt: '2026-01-05T00:00:00.000Z' }));
    const decidedDraft = await send('POST', BASE, body('lc-bad-2', { winner: 'treatment' }));
    const decidedRun = await send('POST', BASE, body('lc-bad-3', { status: 'running', startedAt: '2026-01-05T00:00:00.000Z', decision: 'ship', stoppedAt: '2026-01-06T00:00:00.000Z' }));
    const backwards = await send('POST', BASE, body('lc-bad-4', { status: 'stopped', startedAt: '2026-01-05T00:00:00.000Z', stoppedAt: '2019-01-01T00:00:00.000Z' }));
    const neverStarted = await send('POST', BASE, body('lc-bad-5', { status: 'stopped' }));
    const future = await send('POST', BASE, body('lc-bad-6', { status: 'running', startedAt: '2999-01-01T00:00:00.000Z' }));

    expect(running.status).toBe(201);
    expect(running.body.definition.startedAt).toBe(now);
    expect(imported.body.definition).toMatchObject({ status: 'running', startedAt: '2026-01-05T00:00:00.000Z' });
    expect(imported.body.definition.stoppedAt).toBeUndefined();
    expect(stopped.body.definition).toMatchObject({ status: 'stopped', decision: 'ship', winner: 'treatment', releaseWinner: true });
    expect(stopped.body.definition.stoppedAt).toBe(now);
    expect([undatedDraft, decidedDraft, decidedRun, backwards, neverStarted, future].map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400]);
    expect(paths(undatedDraft)).toEqual(['startedAt']);
    expect(paths(decidedDraft)).toEqual(['winner']);
    expect(paths(decidedRun)).toEqual(['stoppedAt', 'decision']);
    expect(paths(backwards)).toEqual(['stoppedAt']);
    expect(paths(neverStarted)).toEqual(['startedAt']);
    expect(paths(future)).toEqual(['startedAt']);
    expect(decidedRun.body.error.message).toContain('is created running');
    expect((await send('GET', `${BASE}/lc-bad-1`)).status).toBe(404);
  });

  it('refuses metrics the project does not have, on create and on replace, and keeps those it had', async () => {
    await send('POST', '/api/v1/projects/demo/metrics', { key: 'lc-signups', name: 'Sign-ups', type: 'conversion', event: 'signup' });
    const typo = await send('POST', BASE, body('lc-metrics', { metrics: { primary: ['lc-signup'], secondary: ['lc-signups'], guardrails: ['nope'] } }));
    const created = await send('POST', BASE, body('lc-metrics', { metrics: { primary: ['lc-signups'] } }));
    const replaced = await send('PUT', `${BASE}/lc-metrics`, body('lc-metrics', { metrics: { primary: ['lc-signups'], secondary: ['lc-revenue'] } }), 1);

    expect(typo.status).toBe(400);
    expect(typo.body.error.message).toBe('unknown metric "lc-signup", "nope"; create it first (POST …/metrics)');
    expect(typo.body.error.details.issues).toEqual([
      { path: 'metrics.primary.0', message: 'unknown metric "lc-signup"' },
      { path: 'metrics.guardrails.0', message: 'unknown metric "nope"' },
    ]);
    expect(created.status).toBe(201);
    expect(replaced.status).toBe(400);
    expect((await send('GET', `${BASE}/lc-metrics`)).body).toMatchObject({ version: 1, definition: { metrics: { primary: ['lc-signups'], secondary: [] } } });
  });

  it('refuses an experiment rule that cannot serve every variation of its experiment, even a draft one, when it is saved', async () => {
    const FLAGS = '/api/v1/projects/demo/flags';
    const flag = (key: string, rule: Record<string, unknown>): Record<string, unknown> =>
      booleanFlagBody(key, { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'exp', type: 'experiment', ...rule }] } });
    const messages = (res: Awaited<ReturnType<typeof send>>): string[] => (res.body.error?.details?.issues ?? []).map((i: { message: string }) => i.message);
    await send('POST', BASE, { key: 'lc-three', name: 'Three arms', variations: [{ key: 'a' }, { key: 'b' }, { key: 'c' }] });
    await send('POST', BASE, { key: 'lc-two', name: 'Two arms', variations: [{ key: 'control' }, { key: 'on' }] });
    await send('POST', BASE, { key: 'lc-on-b', name: 'On first', variations: [{ key: 'on' }, { key: 'b' }] });

    const threeOnTwo = await send('POST', FLAGS, flag('lc-f-three', { experiment: 'lc-three' }));
    const typo = await send('POST', FLAGS, flag('lc-f-typo', { experiment: 'lc-two', variations: { contrl: 'off', on: 'on' } }));
    // The flag schema names a target the flag does not have.
    const unknownTarget = await send('POST', FLAGS, flag('lc-f-target', { experiment: 'lc-two', variations: { control: 'of' } }));
    // "on" matches "on" by key, and "b" falls back to position 1, "on" too: both arms would serve "on".
    const collision = await send('POST', FLAGS, flag('lc-f-both', { experiment: 'lc-on-b' }));
    const mapped = await send('POST', FLAGS, flag('lc-f-mapped', { experiment: 'lc-two', variations: { control: 'off', on: 'on' } }));

    expect([threeOnTwo, typo, unknownTarget, collision].map((r) => r.status)).toEqual([400, 400, 400, 400]);
    expect(threeOnTwo.body.error.details.issues).toEqual([
      {
        path: 'environments.development.rules.0.variations',
        message: 'experiment variation "c" has no matching flag variation (the flag has 2; map it in the rule\'s variations)',
      },
    ]);
    expect(threeOnTwo.body.error.message).toContain('an experiment rule cannot serve every experiment variation');
    expect(messages(typo)).toEqual(['"contrl" is not a variation of experiment "lc-two" (it has "control", "on")']);
    expect(messages(unknownTarget)).toEqual(['unknown variation "of"']);
    expect(messages(collision)).toEqual(['experiment variations "on" and "b" would both serve flag variation "on" (matched by key or position); map them in the rule\'s variations']);
    expect(mapped.status).toBe(201);
    expect((await send('GET', `${FLAGS}/lc-f-three`)).status).toBe(404);

    // The same check from the experiment's side: a draft whose variations change under a flag's rule.
    const draft = await send('GET', `${BASE}/lc-two`);
    const third = await send('PUT', `${BASE}/lc-two`, { ...draft.body.definition, variations: [{ key: 'control' }, { key: 'on' }, { key: 'extra' }] }, draft.body.version);
    const values = await send('PUT', `${BASE}/lc-two`, { ...draft.body.definition, variations: [{ key: 'control', name: 'Control' }, { key: 'on', name: 'On' }] }, draft.body.version);
    expect(third.status).toBe(400);
    expect(third.body.error.details.issues).toEqual([
      {
        path: 'flags.lc-f-mapped.environments.development.rules.0.variations',
        message: 'experiment variation "extra" has no matching flag variation (the flag has 2; map it in the rule\'s variations)',
      },
    ]);
    expect(third.body.error.message).toContain('a flag\'s rule for experiment "lc-two" cannot serve every experiment variation');
    expect(values.status).toBe(200);

    // And a flag's single-environment state (PUT …/environments/:env).
    const stored = await send('GET', `${FLAGS}/lc-f-mapped`);
    const state = await send('PUT', `${FLAGS}/lc-f-mapped/environments/development`, { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'exp', type: 'experiment', experiment: 'lc-three' }] }, stored.body.version);
    expect(state.status).toBe(400);
    expect(messages(state)).toEqual(['experiment variation "c" has no matching flag variation (the flag has 2; map it in the rule\'s variations)']);
  });

  it('keeps running experiments of one namespace in disjoint ranges, wherever they would overlap in an environment both run in', async () => {
    const ns = (range: [number, number]): Record<string, unknown> => ({ namespace: { id: 'layer-1', range } });
    const a = await send('POST', BASE, body('lc-ns-a', { ...ns([0, 0.5]), environments: ['development'], status: 'running' }));
    const b = await send('POST', BASE, body('lc-ns-b', { ...ns([0.5, 1]), environments: ['development'], status: 'running' }));
    // Where neither runs, nothing is shared; an experiment in every environment shares all of them.
    const elsewhere = await send('POST', BASE, body('lc-ns-prod', { ...ns([0, 1]), environments: ['production'], status: 'running' }));
    const everywhere = await send('POST', BASE, body('lc-ns-all', { ...ns([0.9, 1]), status: 'running' }));
    const overlapping = await send('POST', BASE, body('lc-ns-c', { ...ns([0.4, 0.6]), environments: ['development'], status: 'running' }));
    const draft = await send('POST', BASE, body('lc-ns-c', { ...ns([0.4, 0.6]), environments: ['development'] }));
    const start = await send('POST', `${BASE}/lc-ns-c/start`, undefined, draft.body.version);
    const widen = await send('PUT', `${BASE}/lc-ns-a`, { ...a.body.definition, namespace: { id: 'layer-1', range: [0, 0.7] } }, a.body.version);
    const rename = await send('PUT', `${BASE}/lc-ns-a`, { ...a.body.definition, name: 'Layer one, first half' }, a.body.version);

    expect([a.status, b.status, elsewhere.status, everywhere.status, overlapping.status, draft.status, start.status, widen.status, rename.status]).toEqual([201, 201, 201, 400, 400, 201, 400, 400, 200]);
    expect(start.body.error.message).toBe(
      'namespace "layer-1": range [0.4, 0.6) overlaps running experiments ("lc-ns-a" holds [0, 0.5), "lc-ns-b" holds [0.5, 1)), so units would be in both; choose a free range or stop the other first',
    );
    expect(start.body.error.details.issues).toEqual([{ path: 'namespace.range', message: 'overlaps "lc-ns-a", "lc-ns-b" in namespace "layer-1"' }]);
    expect(widen.body.error.details.issues).toEqual([{ path: 'namespace.range', message: 'overlaps "lc-ns-b" in namespace "layer-1"' }]);

    // Once the other is stopped, the range is free.
    const stopped = await send('POST', `${BASE}/lc-ns-b/stop`, { decision: 'rollback' }, b.body.version);
    const widened = await send('PUT', `${BASE}/lc-ns-a`, { ...rename.body.definition, namespace: { id: 'layer-1', range: [0, 0.7] } }, rename.body.version);
    expect([stopped.status, widened.status]).toEqual([200, 200]);
  });

  it('refuses a replace that changes the status or the start and stop times, naming the actions that do', async () => {
    expect((await send('POST', BASE, body('lc-draft'))).status).toBe(201);

    const started = await send('PUT', `${BASE}/lc-draft`, body('lc-draft', { status: 'running' }), 1);
    const dated = await send('PUT', `${BASE}/lc-draft`, body('lc-draft', { startedAt: '2026-11-01T00:00:00.000Z' }), 1);
    const decided = await send('PUT', `${BASE}/lc-draft`, body('lc-draft', { decision: 'ship', winner: 'treatment' }), 1);

    expect(started.status).toBe(400);
    expect(started.body.error.message).toContain('POST …/start');
    expect(started.body.error.details.issues).toEqual([{ path: 'status', message: expect.stringContaining('it is "draft"') }]);
    expect(dated.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['startedAt']);
    expect(decided.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['decision', 'winner']);
    expect((await send('GET', `${BASE}/lc-draft`)).body).toMatchObject({ version: 1, definition: { status: 'draft' } });
  });

  it('keeps the lifecycle of a running experiment when a replace leaves it out (a full PUT is not a reset to draft)', async () => {
    await send('POST', BASE, body('lc-run'));
    const running = await send('POST', `${BASE}/lc-run/start`, undefined, 1);
    const startedAt = running.body.definition.startedAt as string;

    const renamed = await send('PUT', `${BASE}/lc-run`, { ...body('lc-run'), name: 'Renamed' }, 2);
    const echoed = await send('PUT', `${BASE}/lc-run`, { ...renamed.body.definition, hypothesis: 'Bigger button, more clicks' }, 3);

    expect(renamed.status).toBe(200);
    expect(renamed.body.definition).toMatchObject({ name: 'Renamed', status: 'running', startedAt });
    expect(echoed.status).toBe(200);
    expect(echoed.body.definition).toMatchObject({ status: 'running', startedAt, hypothesis: 'Bigger button, more clicks' });
  });

  it('refuses, once started, a change that would move units between variations; values, coverage and targeting may change', async () => {
    const weighted = (a: number, b: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
      body('lc-split', { variations: [{ key: 'control', weight: a }, { key: 'treatment', weight: b }], ...extra });
    await send('POST', BASE, weighted(1, 1));
    const draftEdit = await send('PUT', `${BASE}/lc-split`, weighted(30, 70), 1);
    await send('POST', `${BASE}/lc-split/start`, undefined, 2);

    const reweighted = await send('PUT', `${BASE}/lc-split`, weighted(50, 50), 3);
    const reseeded = await send('PUT', `${BASE}/lc-split`, weighted(30, 70, { seed: 'other', hashAttribute: 'deviceId' }), 3);
    const added = await send('PUT', `${BASE}/lc-split`, body('lc-split', { variations: [{ key: 'control', weight: 30 }, { key: 'treatment', weight: 70 }, { key: 'third', weight: 0 }] }), 3);
    const reordered = await send('PUT', `${BASE}/lc-split`, body('lc-split', { variations: [{ key: 'treatment', weight: 70 }, { key: 'control', weight: 30 }] }), 3);
    const scaled = await send('PUT', `${BASE}/lc-split`, weighted(3, 7, { coverage: 0.5, condition: { country: 'US' } }), 3);
    const revalued = await send('PUT', `${BASE}/lc-split`, body('lc-split', { variations: [{ key: 'control', weight: 3, value: 'blue' }, { key: 'treatment', weight: 7, value: 'green' }] }), 4);
    await send('POST', `${BASE}/lc-split/stop`, { decision: 'inconclusive' }, 5);
    const afterStop = await send('PUT', `${BASE}/lc-split`, weighted(50, 50), 6);

    expect(draftEdit.status).toBe(200);
    expect(reweighted.status).toBe(400);
    expect(reweighted.body.error.message).toContain('experiment "lc-split" is running: variations changes which variation units are assigned to');
    expect(reweighted.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['variations']);
    expect(reseeded.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['hashAttribute', 'seed']);
    expect([added.status, reordered.status]).toEqual([400, 400]);
    expect(scaled.status).toBe(200);
    expect(scaled.body.definition).toMatchObject({ coverage: 0.5, status: 'running' });
    expect(revalued.status).toBe(200);
    expect(afterStop.status).toBe(400);
    expect(afterStop.body.error.message).toContain('is stopped');
    expect((await send('GET', `${BASE}/lc-split`)).body.definition.variations).toEqual([
      { key: 'control', weight: 3, value: 'blue' },
      { key: 'treatment', weight: 7, value: 'green' },
    ]);

    // With sticky bucketing (enabled before the change) the split may move: units keep their stored variation.
    await send('POST', BASE, weighted(1, 1, { key: 'lc-sticky', stickyBucketing: { enabled: true } }));
    await send('POST', `${BASE}/lc-sticky/start`, undefined, 1);
    const stickyMove = await send('PUT', `${BASE}/lc-sticky`, weighted(1, 99, { key: 'lc-sticky', stickyBucketing: { enabled: true } }), 2);
    const enabledTogether = await send('PUT', `${BASE}/lc-split`, weighted(50, 50, { stickyBucketing: { enabled: true } }), 6);
    expect(stickyMove.status).toBe(200);
    expect(enabledTogether.status).toBe(400);
  });

  it('lets a stopped experiment revise its decision, but not go back to draft', async () => {
    await send('POST', BASE, body('lc-stop'));
    await send('POST', `${BASE}/lc-stop/start`, undefined, 1);
    const stopped = await send('POST', `${BASE}/lc-stop/stop`, { decision: 'inconclusive' }, 2);
    const definition = stopped.body.definition as Record<string, unknown>;

    const toDraft = await send('PUT', `${BASE}/lc-stop`, { ...definition, status: 'draft' }, 3);
    const noWinner = await send('PUT', `${BASE}/lc-stop`, { ...definition, releaseWinner: true }, 3);
    const shipped = await send('PUT', `${BASE}/lc-stop`, { ...definition, decision: 'ship', winner: 'treatment', releaseWinner: true }, 3);

    expect(toDraft.status).toBe(400);
    expect(toDraft.body.error.details.issues[0].path).toBe('status');
    expect(noWinner.status).toBe(400);
    expect(noWinner.body.error.details.issues).toEqual([{ path: 'winner', message: 'required when releaseWinner is true' }]);
    expect(shipped.status).toBe(200);
    expect(shipped.body.definition).toMatchObject({ status: 'stopped', stoppedAt: definition.stoppedAt, decision: 'ship', winner: 'treatment', releaseWinner: true });
  });

  it('refuses a decision that contradicts itself, at the stop and in a later revision', async () => {
    await send('POST', BASE, body('lc-decide'));
    await send('POST', `${BASE}/lc-decide/start`, undefined, 1);
    const stopWith = (decision: Record<string, unknown>) => send('POST', `${BASE}/lc-decide/stop`, decision, 2);
    const issues = async (decision: Record<string, unknown>): Promise<unknown> => {
      const res = await stopWith(decision);
      expect(res.status).toBe(400);
      return res.body.error.details.issues;
    };

    expect(await issues({ decision: 'rollback', winner: 'treatment', releaseWinner: true })).toEqual([
      { path: 'winner', message: 'a rollback returns to the control "control": name it as the winner, or none, or decide "ship" for "treatment"' },
    ]);
    expect(await issues({ decision: 'ship' })).toEqual([{ path: 'winner', message: 'required when the decision is "ship": name the variation shipped' }]);
    expect(await issues({ decision: 'ship', winner: 'control' })).toEqual([{ path: 'winner', message: '"control" is the control: shipping it is the decision "rollback"' }]);
    // A rollback that releases the control to everyone holds together.
    const rolledBack = await stopWith({ decision: 'rollback', winner: 'control', releaseWinner: true });
    expect(rolledBack.status).toBe(200);
    const revised = await send('PUT', `${BASE}/lc-decide`, { ...rolledBack.body.definition, decision: 'ship' }, 3);
    expect([revised.status, revised.body.error.details.issues[0].message]).toEqual([400, '"control" is the control: shipping it is the decision "rollback"']);
  });

  it('resumes a stopped experiment: running again from its first start, the decision and the released winner cleared, audited', async () => {
    await send('POST', BASE, body('lc-resume'));
    const started = await send('POST', `${BASE}/lc-resume/start`, undefined, 1);
    const early = await send('POST', `${BASE}/lc-resume/resume`, undefined, 2);
    await send('POST', `${BASE}/lc-resume/stop`, { decision: 'ship', winner: 'treatment', releaseWinner: true }, 2);

    const stale = await send('POST', `${BASE}/lc-resume/resume`, undefined, 2);
    const resumed = await send('POST', `${BASE}/lc-resume/resume`, undefined, 3);
    const audit = await send('GET', '/api/v1/audit?project=demo&resourceKey=lc-resume');

    expect(early.status).toBe(409);
    expect(early.body.error).toMatchObject({ code: 'INVALID_STATE', message: 'experiment is running; only a stopped experiment can resume' });
    expect(stale.body.error.code).toBe('VERSION_CONFLICT');
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get('etag')).toBe('"4"');
    expect(resumed.body.definition).toMatchObject({ status: 'running', startedAt: started.body.definition.startedAt, releaseWinner: false });
    expect(resumed.body.definition).not.toHaveProperty('stoppedAt');
    expect(resumed.body.definition).not.toHaveProperty('decision');
    expect(resumed.body.definition).not.toHaveProperty('winner');
    // The stop stays on record as a pause, which the platform alone writes: events of that time count for nothing.
    const stoppedAt = (await send('GET', `${BASE}/lc-resume`)).body.definition.pauses[0].stoppedAt;
    expect(resumed.body.definition.pauses).toEqual([{ stoppedAt, resumedAt: expect.any(String) }]);
    expect(Date.parse(resumed.body.definition.pauses[0].resumedAt)).toBeGreaterThanOrEqual(Date.parse(stoppedAt));
    const rewritten = await send('PUT', `${BASE}/lc-resume`, { ...resumed.body.definition, pauses: [] }, 4);
    expect([rewritten.status, rewritten.body.error.details.issues]).toEqual([400, [{ path: 'pauses', message: 'is recorded by the platform when a stopped experiment resumes' }]]);
    const created = await send('POST', BASE, { ...body('lc-paused'), pauses: [{ stoppedAt, resumedAt: stoppedAt }] });
    expect([created.status, created.body.error.details.issues[0].path]).toEqual([400, 'pauses']);
    expect(audit.body.items.map((e: { action: string }) => e.action)).toContain('experiment.resumed');
  });

  describe('archiving (a replace with archived: true, as for flags)', () => {
    const keys = async (query = ''): Promise<string[]> => (await send('GET', `${BASE}?limit=200${query}`)).body.items.map((i: { key: string }) => i.key);
    const archive = async (key: string, archived: boolean): Promise<Awaited<ReturnType<typeof send>>> => {
      const stored = await send('GET', `${BASE}/${key}`);
      return send('PUT', `${BASE}/${key}`, { ...stored.body.definition, archived }, stored.body.version);
    };

    it('archives a draft: out of the default list, listed with ?archived=true, not started or changed until unarchived, audited', async () => {
      await send('POST', BASE, body('lc-arch-draft'));
      const archived = await archive('lc-arch-draft', true);

      expect(archived.status).toBe(200);
      expect([archived.body.archived, archived.body.definition.archived, archived.body.version]).toEqual([true, true, 2]);
      expect(await keys()).not.toContain('lc-arch-draft');
      expect(await keys('&archived=true')).toContain('lc-arch-draft');
      expect(await keys('&status=draft&archived=true')).toContain('lc-arch-draft');
      expect((await send('GET', `${BASE}/lc-arch-draft`)).body.archived).toBe(true);

      const start = await send('POST', `${BASE}/lc-arch-draft/start`, undefined, 2);
      expect(start.status).toBe(409);
      expect(start.body.error).toMatchObject({ code: 'INVALID_STATE', message: 'experiment "lc-arch-draft" is archived; unarchive it (PUT …/experiments/lc-arch-draft with "archived": false) before you start it' });
      const edit = await send('PUT', `${BASE}/lc-arch-draft`, { ...archived.body.definition, name: 'Renamed', hypothesis: 'More' }, 2);
      expect(edit.status).toBe(409);
      expect(edit.body.error).toMatchObject({ code: 'INVALID_STATE', message: 'experiment "lc-arch-draft" is archived; unarchive it ("archived": false) to change it (name, hypothesis)' });
      // The same definition sent again changes nothing: no refusal, no new version.
      const same = await send('PUT', `${BASE}/lc-arch-draft`, archived.body.definition, 2);
      expect([same.status, same.body.version]).toEqual([200, 2]);

      // Unarchiving may change other fields in the same replace; `false` is stored as no field.
      const unarchived = await send('PUT', `${BASE}/lc-arch-draft`, { ...archived.body.definition, archived: false, name: 'Back' }, 2);
      expect([unarchived.status, unarchived.body.archived, unarchived.body.definition.name]).toEqual([200, false, 'Back']);
      expect(unarchived.body.definition).not.toHaveProperty('archived');
      expect(await keys()).toContain('lc-arch-draft');
      expect((await send('POST', `${BASE}/lc-arch-draft/start`, undefined, 3)).status).toBe(200);

      const audit = await send('GET', '/api/v1/audit?project=demo&resourceKey=lc-arch-draft');
      // Audited as flags are: the replace's action, with the diff naming `archived` (newest first).
      const updates = (audit.body.items as { action: string; diff: { op: string; path: string }[] }[]).filter((e) => e.action === 'experiment.updated');
      expect(updates.map((e) => e.diff)).toEqual([
        [
          { op: 'remove', path: '/archived', from: true },
          { op: 'replace', path: '/name', from: 'Experiment lc-arch-draft', to: 'Back' },
        ],
        [{ op: 'add', path: '/archived', to: true }],
      ]);
    });

    it('refuses to archive a running experiment (stop it first); archives a stopped one, whose results stay readable and which does not resume', async () => {
      await send('POST', BASE, body('lc-arch-run'));
      await send('POST', `${BASE}/lc-arch-run/start`, undefined, 1);
      const running = await archive('lc-arch-run', true);
      expect(running.status).toBe(409);
      expect(running.body.error).toMatchObject({ code: 'INVALID_STATE', message: 'experiment "lc-arch-run" is running; stop it first (POST …/experiments/lc-arch-run/stop), then archive it' });
      expect((await send('GET', `${BASE}/lc-arch-run`)).body).toMatchObject({ version: 2, archived: false });
      const createdRunning = await send('POST', BASE, body('lc-arch-new', { status: 'running', archived: true }));
      expect([createdRunning.status, createdRunning.body.error.details.issues]).toEqual([400, [{ path: 'archived', message: 'must be left out for a running experiment (archive it once stopped, or create it stopped or as a draft)' }]]);

      await send('POST', `${BASE}/lc-arch-run/stop`, { decision: 'inconclusive' }, 2);
      const stopped = await archive('lc-arch-run', true);
      expect([stopped.status, stopped.body.archived, stopped.body.definition.status]).toEqual([200, true, 'stopped']);
      const resume = await send('POST', `${BASE}/lc-arch-run/resume`, undefined, 4);
      expect([resume.status, resume.body.error.message]).toEqual([409, 'experiment "lc-arch-run" is archived; unarchive it (PUT …/experiments/lc-arch-run with "archived": false) before you resume it']);
      // Revising the decision is a change too.
      expect((await send('PUT', `${BASE}/lc-arch-run`, { ...stopped.body.definition, decision: 'rollback', winner: 'control' }, 4)).status).toBe(409);
      const results = await send('GET', `${BASE}/lc-arch-run/results`);
      expect([results.status, results.body.experiment.key]).toEqual([200, 'lc-arch-run']);
      expect(await keys('&status=stopped')).not.toContain('lc-arch-run');
      expect(await keys('&status=stopped&archived=true')).toContain('lc-arch-run');
    });

    it('lets an editor archive a stopped split-URL experiment in production: its links keep going where they went', async () => {
      const invited = await send('POST', '/api/v1/users', { email: 'lc-arch-ed@example.com', name: 'Ed', role: 'editor', password: 'a much longer passphrase 42' });
      expect(invited.status).toBe(201);
      const editor = await p.login('lc-arch-ed@example.com', 'a much longer passphrase 42');
      const landing = { key: 'lc-arch-links', name: 'Links', type: 'split-url', environments: ['production'], variations: [{ key: 'a', url: 'https://shop.example/a' }, { key: 'b', url: 'https://shop.example/b' }] };
      await send('POST', BASE, landing);
      await send('POST', `${BASE}/lc-arch-links/start`, undefined, 1);
      const stopped = await send('POST', `${BASE}/lc-arch-links/stop`, { decision: 'rollback' }, 2);
      // Archiving changes nothing a visitor gets, so it needs no approval where repointing the links would.
      const asEditor = await p.request('PUT', `${BASE}/lc-arch-links`, { token: editor, body: { ...stopped.body.definition, archived: true }, headers: { 'If-Match': '"3"' } });
      expect([asEditor.status, asEditor.body.archived]).toEqual([200, true]);
      const unarchived = await p.request('PUT', `${BASE}/lc-arch-links`, { token: editor, body: { ...stopped.body.definition, archived: false }, headers: { 'If-Match': '"4"' } });
      expect([unarchived.status, unarchived.body.archived]).toEqual([200, false]);
      // Repointing them still does.
      const repointed = await p.request('PUT', `${BASE}/lc-arch-links`, { token: editor, body: { ...stopped.body.definition, archived: true, variations: [{ key: 'a', url: 'https://shop.example/elsewhere' }, { key: 'b', url: 'https://shop.example/b' }] }, headers: { 'If-Match': '"5"' } });
      expect([repointed.status, repointed.body.error?.code]).toEqual([403, 'APPROVAL_REQUIRED']);
      // A draft has no links: an editor archives and unarchives it.
      const draft = await p.request('POST', BASE, { token: editor, body: body('lc-arch-ed-draft', { environments: ['production'] }) });
      const archivedDraft = await p.request('PUT', `${BASE}/lc-arch-ed-draft`, { token: editor, body: { ...draft.body.definition, archived: true }, headers: { 'If-Match': '"1"' } });
      expect([draft.status, archivedDraft.status]).toEqual([201, 200]);
    });

    it('keeps a flag that names an archived experiment compiling: a released winner is served as before, and the ruleset does not change', async () => {
      const projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
      await send('POST', BASE, body('lc-arch-ref', { environments: ['development'] }));
      const flag = await send(
        'POST',
        '/api/v1/projects/demo/flags',
        booleanFlagBody('lc-arch-flag', { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'exp', type: 'experiment', experiment: 'lc-arch-ref', variations: { control: 'off', treatment: 'on' } }] } }),
      );
      expect(flag.status).toBe(201);
      // A draft: the rule serves nothing yet, archived or not.
      expect((await archive('lc-arch-ref', true)).status).toBe(200);
      expect((await archive('lc-arch-ref', false)).status).toBe(200);
      await send('POST', `${BASE}/lc-arch-ref/start`, undefined, 3);
      await send('POST', `${BASE}/lc-arch-ref/stop`, { decision: 'ship', winner: 'treatment', releaseWinner: true }, 4);
      const before = await p.rulesets.latest(projectId, 'development');
      expect(before?.ruleset.experiments?.['lc-arch-ref']).toMatchObject({ force: 1 });

      const archived = await archive('lc-arch-ref', true);
      expect(archived.status).toBe(200);
      const after = await p.rulesets.latest(projectId, 'development');
      expect(after?.version).toBe(before?.version);
      expect(after?.ruleset.experiments?.['lc-arch-ref']).toEqual(before?.ruleset.experiments?.['lc-arch-ref']);
      expect(after?.ruleset.flags['lc-arch-flag']?.rules).toEqual(before?.ruleset.flags['lc-arch-flag']?.rules);
      // The flag still changes and compiles with its rule naming the archived experiment.
      const stored = await send('GET', '/api/v1/projects/demo/flags/lc-arch-flag');
      const renamed = await send('PUT', '/api/v1/projects/demo/flags/lc-arch-flag', { ...stored.body.definition, name: 'Renamed' }, stored.body.version);
      expect(renamed.status).toBe(200);
    });
  });
});
