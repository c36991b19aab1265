/**
 * Changes that would change a running experiment's population or what its arms are served, through
 * the API: a namespace range given up while it runs (another experiment could then take units it
 * exposed), and a flag change that maps an arm to another flag variation (a new order of the flag's
 * variations where arms map by position, or a new rule map), by PUT, `POST …/apply` and change
 * requests. Each refusal leaves what units are served as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StickyBucketStore } from '@xp/shared';
import { evaluateFlag } from '@xp/shared';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, mustAs, requestAs, signedInAs, startPlatform } from '../../http/__tests__/harness.js';

const PROJECT = 'running-reach';
const BASE = `/api/v1/projects/${PROJECT}`;
const DAY = 86_400_000;
const UNITS = Array.from({ length: 600 }, (_, i) => `unit-${i}`);

/** Sticky assignments kept in memory, as an SDK's store keeps them between evaluations. */
function memoryStickyStore(): StickyBucketStore {
  const stored = new Map<string, Readonly<Record<string, string>>>();
  return {
    get: (attribute, value) => stored.get(`${attribute}\u0000${value}`),
    set: (attribute, value, assignments) => {
      stored.set(`${attribute}\u0000${value}`, assignments);
    },
  };
}

describe('changes that would change who a running experiment has or what its arms are served', () => {
  let p: Platform;
  let owner: string;
  let editor: string;
  let projectId: string;
  let startedAt: string;

  const request = (method: string, path: string, body?: unknown, version?: number, as = owner): Promise<{ status: number; body: any }> => requestAs(p, as, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number, as = owner): Promise<any> => mustAs(p, as, method, path, body, version);
  const issues = (res: { body: any }): { path: string; message: string }[] => res.body.error?.details?.issues ?? [];
  /** The stored definition of `kind`/`key`, replaced by `change(definition)`: the response. */
  const replace = async (kind: 'flags' | 'experiments', key: string, change: (definition: any) => any): Promise<{ status: number; body: any }> => {
    const current = await must('GET', `${BASE}/${kind}/${key}`);
    return request('PUT', `${BASE}/${kind}/${key}`, change(current.definition), current.version);
  };
  /** The same replacement through `POST …/apply`. */
  const applied = async (kind: 'flags' | 'experiments', key: string, change: (definition: any) => any): Promise<{ status: number; body: any }> => {
    const current = await must('GET', `${BASE}/${kind}/${key}`);
    return request('POST', `${BASE}/apply`, { changes: [{ kind, action: 'update', key, version: current.version, definition: change(current.definition) }] });
  };
  const lifecycle = async (key: string, action: 'start' | 'stop' | 'resume'): Promise<{ status: number; body: any }> => {
    const current = await must('GET', `${BASE}/experiments/${key}`);
    return request('POST', `${BASE}/experiments/${key}/${action}`, undefined, current.version);
  };
  /** What each unit is served by each flag in `environment` (variation key, and the experiment arm if any), from the published ruleset. */
  const served = async (flags: readonly string[], environment = 'development', sticky?: StickyBucketStore): Promise<Map<string, (string | null)[]>> => {
    const ruleset = (await p.rulesets.latest(projectId, environment))!.ruleset;
    return new Map(
      UNITS.map((unit) => [
        unit,
        flags.flatMap((flag) => {
          const result = evaluateFlag(ruleset, flag, { attributes: { id: unit }, ...(sticky === undefined ? {} : { stickyBuckets: sticky }) });
          return [result.variationKey, result.experiment?.inExperiment === true ? result.experiment.variationKey : null];
        }),
      ]),
    );
  };
  const experimentFlag = (key: string, experiment: string, variations: { key: string; value: string }[], envs: readonly string[] = ['development']): Record<string, unknown> => ({
    key,
    name: key,
    type: 'string',
    variations,
    environments: Object.fromEntries(envs.map((env) => [env, { enabled: true, defaultVariation: variations[0]!.key, offVariation: variations[0]!.key, rules: [{ id: 'e', type: 'experiment', experiment }] }])),
  });

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    startedAt = new Date(p.now.value.getTime() - DAY).toISOString();
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'reach-editor@example.com');
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Running reach' });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [PROJECT])).rows[0]!.id;
  });
  afterAll(async () => {
    await p.close();
  });

  describe("a running experiment's namespace range", () => {
    const running = (key: string, range: [number, number], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      key,
      name: key,
      variations: [{ key: 'control' }, { key: 'treatment' }],
      environments: ['development'],
      namespace: { id: 'L2', range },
      status: 'running',
      startedAt,
      ...extra,
    });
    const withRange = (range: [number, number]) => (d: any) => ({ ...d, namespace: { ...d.namespace, range } });

    beforeAll(async () => {
      await must('POST', `${BASE}/experiments`, running('s-a', [0, 0.5], { stickyBucketing: { enabled: true } }));
      await must('POST', `${BASE}/experiments`, running('s-b', [0.5, 1]));
      await must('POST', `${BASE}/flags`, experimentFlag('fa', 's-a', [{ key: 'a-off', value: 'a0' }, { key: 'a-on', value: 'a1' }]));
      await must('POST', `${BASE}/flags`, experimentFlag('fb', 's-b', [{ key: 'b-off', value: 'b0' }, { key: 'b-on', value: 'b1' }]));
    });

    it('refuses giving up part of the range while it runs, by PUT and by apply, so no unit ends up in both', async () => {
      const sticky = memoryStickyStore();
      const before = await served(['fa', 'fb'], 'development', sticky);
      const inBoth = (m: Map<string, (string | null)[]>): number => [...m.values()].filter((v) => v[1] !== null && v[3] !== null).length;
      expect(inBoth(before)).toBe(0);

      const shrunk = await replace('experiments', 's-a', withRange([0, 0.2]));
      const taken = await replace('experiments', 's-b', withRange([0.2, 1]));
      const fromTheLeft = await replace('experiments', 's-a', withRange([0.1, 0.5]));
      const moved = await applied('experiments', 's-a', withRange([0.6, 1]));

      expect(shrunk.status).toBe(400);
      expect(shrunk.body.error.message).toContain("a running experiment's namespace range may grow but not shrink: units it has exposed in [0.2, 0.5)");
      expect(shrunk.body.error.message).toContain('stop it first');
      expect(issues(shrunk)).toEqual([{ path: 'namespace.range', message: expect.stringContaining('may grow but not shrink') }]);
      // s-a still holds [0.2, 0.5): s-b cannot take it.
      expect(issues(taken)).toEqual([{ path: 'namespace.range', message: expect.stringContaining('overlaps "s-a"') }]);
      expect(fromTheLeft.body.error.message).toContain('units it has exposed in [0, 0.1)');
      expect(moved.status).toBe(400);
      expect(moved.body.error.message).toContain('units it has exposed in [0, 0.5)');
      expect(issues(moved)).toEqual([{ path: 'changes[0].definition.namespace.range', message: expect.stringContaining('may grow but not shrink') }]);
      expect((await must('GET', `${BASE}/experiments/s-a`)).definition.namespace.range).toEqual([0, 0.5]);
      expect((await must('GET', `${BASE}/experiments/s-b`)).definition.namespace.range).toEqual([0.5, 1]);
      const after = await served(['fa', 'fb'], 'development', sticky);
      expect(after).toEqual(before);
      expect(inBoth(after)).toBe(0);
    });

    it('lets a range grow into free space, frees a stopped one, and refuses resuming into a range another took', async () => {
      // s-a's other edits are not held to the range it has.
      expect((await replace('experiments', 's-a', (d) => ({ ...d, name: 'S-A' }))).status).toBe(200);
      expect((await lifecycle('s-b', 'stop')).status).toBe(200);
      const grown = await replace('experiments', 's-a', withRange([0, 0.7]));
      const resumed = await lifecycle('s-b', 'resume');

      expect(grown.status).toBe(200);
      expect(resumed.status).toBe(400);
      expect(issues(resumed)).toEqual([{ path: 'namespace.range', message: expect.stringContaining('overlaps "s-a"') }]);
      expect((await must('GET', `${BASE}/experiments/s-b`)).definition.status).toBe('stopped');
      // Stopped, it holds nothing: its range may shrink, and it runs again where it is free.
      expect((await replace('experiments', 's-b', withRange([0.7, 1]))).status).toBe(200);
      expect((await lifecycle('s-b', 'resume')).status).toBe(200);
    });
  });

  describe('the flag variation each arm of a running experiment is served', () => {
    const RED_BLUE = [
      { key: 'red', value: '#f00' },
      { key: 'blue', value: '#00f' },
    ];
    const withVariations = (variations: unknown[]) => (d: any) => ({ ...d, variations });
    const withMap = (env: string, map: Record<string, string>) => (d: any) => ({
      ...d,
      environments: { ...d.environments, [env]: { ...d.environments[env], rules: [{ id: 'e', type: 'experiment', experiment: 'pos-exp', variations: map }] } },
    });

    beforeAll(async () => {
      await must('POST', `${BASE}/experiments`, { key: 'pos-exp', name: 'Position', variations: [{ key: 'control' }, { key: 'treatment' }], status: 'running', startedAt });
      await must('POST', `${BASE}/flags`, experimentFlag('pos', 'pos-exp', RED_BLUE, ['development', 'production']));
    });

    it('refuses a new order or an insertion that maps an arm to another variation by position, by PUT and by apply', async () => {
      const before = await served(['pos']);
      // Arms map by position: control → red, treatment → blue.
      expect(new Set([...before.values()].map((v) => `${v[1]}→${v[0]}`))).toEqual(new Set(['control→red', 'treatment→blue']));

      const reordered = await replace('flags', 'pos', withVariations([RED_BLUE[1], RED_BLUE[0]]));
      const inserted = await replace('flags', 'pos', withVariations([{ key: 'green', value: '#0f0' }, ...RED_BLUE]));
      const viaApply = await applied('flags', 'pos', withVariations([RED_BLUE[1], RED_BLUE[0]]));

      expect(reordered.status).toBe(400);
      expect(reordered.body.error.message).toContain('experiment rule "e" in "development" (running experiment "pos-exp"): arm "control" would get "blue" instead of "red", arm "treatment" would get "red" instead of "blue"');
      expect(reordered.body.error.message).toContain('"production"');
      expect(issues(reordered)).toHaveLength(2);
      expect(issues(reordered)).toEqual(
        expect.arrayContaining([
          { path: 'variations', message: expect.stringContaining('experiment rule "e" in "development"') },
          { path: 'variations', message: expect.stringContaining('experiment rule "e" in "production"') },
        ]),
      );
      expect(inserted.status).toBe(400);
      expect(inserted.body.error.message).toContain('arm "control" would get "green" instead of "red"');
      expect(viaApply.status).toBe(400);
      expect(issues(viaApply)[0]).toEqual({ path: 'changes[0].definition.variations', message: expect.stringContaining('running experiment "pos-exp"') });
      expect((await must('GET', `${BASE}/flags/pos`)).definition.variations).toEqual(RED_BLUE);
      expect(await served(['pos'])).toEqual(before);
    });

    it('refuses the new order also while the rule is disabled or the flag off, so turning it on again cannot swap the arms', async () => {
      const before = await served(['pos']);
      const withRule = (enabled: boolean) => (d: any) => ({
        ...d,
        environments: { ...d.environments, development: { ...d.environments.development, rules: d.environments.development.rules.map((r: any) => ({ ...r, enabled })) } },
      });
      const withState = (enabled: boolean) => (d: any) => ({ ...d, environments: { ...d.environments, development: { ...d.environments.development, enabled } } });

      // Disabling the rule while the experiment runs is refused (it would run on with no traffic): disabled while stopped.
      expect((await replace('flags', 'pos', withRule(false))).status).toBe(409);
      expect((await lifecycle('pos-exp', 'stop')).status).toBe(200);
      expect((await replace('flags', 'pos', withRule(false))).status).toBe(200);
      expect((await lifecycle('pos-exp', 'resume')).status).toBe(200);
      const ruleOff = await replace('flags', 'pos', withVariations([RED_BLUE[1], RED_BLUE[0]]));
      expect((await replace('flags', 'pos', withRule(true))).status).toBe(200);
      expect((await replace('flags', 'pos', withState(false))).status).toBe(200);
      const flagOff = await replace('flags', 'pos', withVariations([RED_BLUE[1], RED_BLUE[0]]));
      expect((await replace('flags', 'pos', withState(true))).status).toBe(200);

      expect(ruleOff.status).toBe(400);
      expect(ruleOff.body.error.message).toContain('experiment rule "e" in "development" (running experiment "pos-exp"): arm "control" would get "blue" instead of "red"');
      expect(flagOff.status).toBe(400);
      expect((await must('GET', `${BASE}/flags/pos`)).definition.variations).toEqual(RED_BLUE);
      expect(await served(['pos'])).toEqual(before);
    });

    it("refuses a rule map that serves an arm another variation, in a PUT, a state PUT and a change request", async () => {
      const before = await served(['pos']);
      const swapped = await replace('flags', 'pos', withMap('development', { control: 'blue', treatment: 'red' }));
      const current = await must('GET', `${BASE}/flags/pos`);
      const state = await request('PUT', `${BASE}/flags/pos/environments/development`, withMap('development', { control: 'blue', treatment: 'red' })(current.definition).environments.development, current.version);
      const proposed = await request(
        'POST',
        `${BASE}/change-requests`,
        { resourceType: 'flag', resourceKey: 'pos', environment: 'production', baseVersion: current.version, state: { rules: [{ id: 'e', type: 'experiment', experiment: 'pos-exp', variations: { control: 'blue', treatment: 'red' } }] } },
        undefined,
        editor,
      );

      expect(swapped.status).toBe(400);
      expect(issues(swapped)).toEqual([{ path: 'environments.development.rules.0.variations', message: expect.stringContaining('arm "control" would get "blue" instead of "red"') }]);
      expect(state.status).toBe(400);
      expect(state.body.error.message).toContain('running experiment "pos-exp"');
      expect(proposed.status).toBe(400);
      expect(issues(proposed)).toEqual([{ path: 'environments.production.rules.0.variations', message: expect.stringContaining('experiment rule "e" in "production"') }]);
      expect(await served(['pos'])).toEqual(before);
      expect(await served(['pos'], 'production')).toEqual(before);
    });

    it('refuses applying a change request whose rule map remaps an experiment started since it was proposed', async () => {
      await must('POST', `${BASE}/experiments`, { key: 'later-exp', name: 'Later', variations: [{ key: 'control' }, { key: 'treatment' }] });
      const flag = await must('POST', `${BASE}/flags`, { ...experimentFlag('later', 'later-exp', RED_BLUE, ['production']) });
      const proposed = await must(
        'POST',
        `${BASE}/change-requests`,
        { resourceType: 'flag', resourceKey: 'later', environment: 'production', baseVersion: flag.version, state: { rules: [{ id: 'e', type: 'experiment', experiment: 'later-exp', variations: { control: 'blue', treatment: 'red' } }] } },
        undefined,
        editor,
      );
      const draft = await must('GET', `${BASE}/experiments/later-exp`);
      await must('POST', `${BASE}/experiments/later-exp/start`, undefined, draft.version);
      await must('POST', `${BASE}/change-requests/${proposed.id as string}/approve`);
      const before = await served(['later'], 'production');

      const apply = await request('POST', `${BASE}/change-requests/${proposed.id as string}/apply`, undefined, undefined, editor);

      expect(apply.status).toBe(400);
      expect(apply.body.error.message).toContain('experiment rule "e" in "production" (running experiment "later-exp"): arm "control" would get "blue" instead of "red"');
      expect((await must('GET', `${BASE}/change-requests/${proposed.id as string}`)).status).toBe('open');
      expect(await served(['later'], 'production')).toEqual(before);
    });

    it('lets values change, variations be added at the end and a map say what position said; renaming an arm stays refused', async () => {
      const before = await served(['pos']);
      const revalued = await replace('flags', 'pos', withVariations([{ key: 'red', value: '#e00' }, RED_BLUE[1], { key: 'green', value: '#0f0' }]));
      const mapped = await replace('flags', 'pos', withMap('development', { control: 'red', treatment: 'blue' }));
      const armRenamed = await replace('experiments', 'pos-exp', (d) => ({ ...d, variations: [{ key: 'control' }, { key: 'treatment-v2' }] }));

      expect(revalued.status).toBe(200);
      expect(mapped.status).toBe(200);
      expect(armRenamed.status).toBe(400);
      expect(issues(armRenamed)).toEqual([{ path: 'variations', message: expect.stringContaining('keys and their order are fixed') }]);
      // Every unit keeps its arm and its variation (red now has another value).
      expect(await served(['pos'])).toEqual(before);
    });
  });

  describe('what the arms were first served, held across writes and resumes', () => {
    const RED_BLUE = [
      { key: 'red', value: '#f00' },
      { key: 'blue', value: '#00f' },
    ];
    const BLUE_RED = [RED_BLUE[1]!, RED_BLUE[0]!];
    const running = (key: string): Record<string, unknown> => ({ key, name: key, variations: [{ key: 'control' }, { key: 'treatment' }], environments: ['development'], status: 'running', startedAt });
    const withVariations = (variations: unknown[]) => (d: any) => ({ ...d, variations });
    const withRules = (rules: unknown[]) => (d: any) => ({ ...d, environments: { ...d.environments, development: { ...d.environments.development, rules } } });
    /** Where the arms were served `red` for control and `blue` for treatment. */
    const redForControl = (m: Map<string, (string | null)[]>): void => {
      expect(new Set([...m.values()].map((v) => `${v[1]}→${v[0]}`))).toEqual(new Set(['control→red', 'treatment→blue']));
    };
    const recorded = async (experiment: string): Promise<unknown[]> =>
      (await p.db.query<{ flag_key: string; environment: string; mapping: unknown }>('SELECT flag_key, environment, mapping FROM experiment_arm_mappings WHERE project_id = $1 AND experiment = $2 ORDER BY flag_key, environment', [projectId, experiment])).rows.map((r) => ({ ...r }));

    it('(a) refuses adding the rule back, under another id, after it was removed and the variations reordered in between', async () => {
      await must('POST', `${BASE}/experiments`, running('hole-a'));
      await must('POST', `${BASE}/flags`, experimentFlag('ha', 'hole-a', RED_BLUE));
      const original = await served(['ha']);
      redForControl(original);
      expect(await recorded('hole-a')).toEqual([{ flag_key: 'ha', environment: 'development', mapping: { control: 'red', treatment: 'blue' } }]);

      // Removing the rule is refused while the experiment runs: removed while it was stopped, it resumes without it.
      expect((await replace('flags', 'ha', withRules([]))).status).toBe(409);
      expect((await lifecycle('hole-a', 'stop')).status).toBe(200);
      expect((await replace('flags', 'ha', withRules([]))).status).toBe(200);
      expect((await lifecycle('hole-a', 'resume')).status).toBe(200);
      expect((await replace('flags', 'ha', withVariations(BLUE_RED))).status).toBe(200);
      const between = await served(['ha']);
      const back = await replace('flags', 'ha', withRules([{ id: 'e2', type: 'experiment', experiment: 'hole-a' }]));
      const viaApply = await applied('flags', 'ha', withRules([{ id: 'e3', type: 'experiment', experiment: 'hole-a' }]));

      expect(back.status).toBe(400);
      expect(back.body.error.message).toContain('experiment rule "e2" in "development" (running experiment "hole-a"): arm "control" would get "blue" instead of "red", arm "treatment" would get "red" instead of "blue"');
      expect(issues(back)).toEqual([{ path: 'variations', message: expect.stringContaining('experiment rule "e2"') }]);
      expect(viaApply.status).toBe(400);
      expect(await served(['ha'])).toEqual(between);
      // With the order restored, the rule comes back and every unit has its arm and its variation again.
      expect((await replace('flags', 'ha', withVariations(RED_BLUE))).status).toBe(200);
      expect((await replace('flags', 'ha', withRules([{ id: 'e2', type: 'experiment', experiment: 'hole-a' }]))).status).toBe(200);
      expect(await served(['ha'])).toEqual(original);
    });

    it('(b) refuses a state removed and set again with another variations map, by PUT and by state PUT', async () => {
      await must('POST', `${BASE}/experiments`, running('hole-b'));
      await must('POST', `${BASE}/flags`, experimentFlag('hb', 'hole-b', RED_BLUE));
      redForControl(await served(['hb']));

      expect((await replace('flags', 'hb', (d) => ({ ...d, environments: {} }))).status).toBe(409);
      expect((await lifecycle('hole-b', 'stop')).status).toBe(200);
      expect((await replace('flags', 'hb', (d) => ({ ...d, environments: {} }))).status).toBe(200);
      expect((await lifecycle('hole-b', 'resume')).status).toBe(200);
      const between = await served(['hb']);
      const swappedState = { enabled: true, defaultVariation: 'red', offVariation: 'red', rules: [{ id: 'e', type: 'experiment', experiment: 'hole-b', variations: { control: 'blue', treatment: 'red' } }] };
      const put = await replace('flags', 'hb', (d) => ({ ...d, environments: { development: swappedState } }));
      const current = await must('GET', `${BASE}/flags/hb`);
      const statePut = await request('PUT', `${BASE}/flags/hb/environments/development`, swappedState, current.version);

      expect(put.status).toBe(400);
      expect(issues(put)).toEqual([{ path: 'environments.development.rules.0.variations', message: expect.stringContaining('arm "control" would get "blue" instead of "red"') }]);
      expect(statePut.status).toBe(400);
      expect(statePut.body.error.message).toContain('(running experiment "hole-b"): arm "control" would get "blue" instead of "red"');
      expect((await must('GET', `${BASE}/flags/hb`)).definition.environments).toEqual({});
      expect(await served(['hb'])).toEqual(between);
    });

    it('(c) refuses resuming once the variations were reordered while it was stopped (409), and resumes once they are restored', async () => {
      await must('POST', `${BASE}/experiments`, running('hole-c'));
      await must('POST', `${BASE}/flags`, experimentFlag('hc', 'hole-c', RED_BLUE));
      const original = await served(['hc']);
      redForControl(original);

      expect((await lifecycle('hole-c', 'stop')).status).toBe(200);
      expect((await replace('flags', 'hc', withVariations(BLUE_RED))).status).toBe(200);
      const stopped = await served(['hc']);
      const resumed = await lifecycle('hole-c', 'resume');

      expect(resumed.status).toBe(409);
      expect(resumed.body.error.code).toBe('INVALID_STATE');
      expect(resumed.body.error.message).toContain('experiment "hole-c" cannot resume');
      expect(resumed.body.error.message).toContain('flag "hc", experiment rule "e" in "development": arm "control" would get "blue" instead of "red", arm "treatment" would get "red" instead of "blue"');
      expect(resumed.body.error.message).toContain('create a new experiment');
      expect(issues(resumed)).toEqual([{ path: 'flags.hc.environments.development.rules.0.variations', message: expect.stringContaining('flag "hc"') }]);
      expect((await must('GET', `${BASE}/experiments/hole-c`)).definition.status).toBe('stopped');
      expect(await served(['hc'])).toEqual(stopped);
      // Restored, it resumes and serves every unit what it served before the stop.
      expect((await replace('flags', 'hc', withVariations(RED_BLUE))).status).toBe(200);
      expect((await lifecycle('hole-c', 'resume')).status).toBe(200);
      expect(await served(['hc'])).toEqual(original);
    });

    it('(d) refuses a reorder made in the same write as a new id for the rule', async () => {
      await must('POST', `${BASE}/experiments`, running('hole-d'));
      await must('POST', `${BASE}/flags`, experimentFlag('hd', 'hole-d', RED_BLUE));
      const before = await served(['hd']);
      redForControl(before);

      const renamed = await replace('flags', 'hd', (d) => withRules([{ id: 'e-renamed', type: 'experiment', experiment: 'hole-d' }])(withVariations(BLUE_RED)(d)));

      expect(renamed.status).toBe(400);
      expect(renamed.body.error.message).toContain('experiment rule "e-renamed" in "development" (running experiment "hole-d"): arm "control" would get "blue" instead of "red"');
      expect((await must('GET', `${BASE}/flags/hd`)).definition.variations).toEqual(RED_BLUE);
      expect(await served(['hd'])).toEqual(before);
    });

    it('(e) refuses starting while two rules map the arms differently, and, once running, enabling a second rule whose map differs from the record', async () => {
      const draft = { key: 'hole-e', name: 'hole-e', variations: [{ key: 'control' }, { key: 'treatment' }], environments: ['development'] };
      await must('POST', `${BASE}/experiments`, draft);
      const opposite = { id: 'rb', type: 'experiment', experiment: 'hole-e', enabled: false, variations: { control: 'blue', treatment: 'red' } };
      const straight = { id: 'ra', type: 'experiment', experiment: 'hole-e', variations: { control: 'red', treatment: 'blue' } };
      await must('POST', `${BASE}/flags`, withRules([straight, opposite])(experimentFlag('he2', 'hole-e', RED_BLUE)));

      const started = await lifecycle('hole-e', 'start');

      expect(started.status).toBe(409);
      expect(started.body.error.message).toContain('flag "he2" in "development": rule "rb" serves arm "control" "blue", arm "treatment" "red" where rule "ra" serves "red", "blue"');
      expect((await must('GET', `${BASE}/experiments/hole-e`)).definition.status).toBe('draft');

      // Aligned, it starts; a later write that gives the disabled rule the opposite map and enables it is refused.
      expect((await replace('flags', 'he2', withRules([straight, { ...opposite, variations: straight.variations }]))).status).toBe(200);
      expect((await lifecycle('hole-e', 'start')).status).toBe(200);
      const before = await served(['he2']);
      redForControl(before);
      const swapped = await replace('flags', 'he2', withRules([{ ...straight, enabled: false }, { ...opposite, enabled: true }]));

      expect(swapped.status).toBe(400);
      expect(swapped.body.error.message).toContain('experiment rule "rb" in "development" (running experiment "hole-e"): arm "control" would get "blue" instead of "red"');
      expect(await served(['he2'])).toEqual(before);
    });

    it('refuses a flag deleted and created again with the variations reordered while the experiment runs', async () => {
      await must('POST', `${BASE}/experiments`, running('hole-f'));
      await must('POST', `${BASE}/flags`, experimentFlag('hf', 'hole-f', RED_BLUE));
      redForControl(await served(['hf']));
      // While its rule delivers the running experiment the flag cannot be deleted, nor the rule removed
      // first; stopped, it can, and the experiment resumes without it.
      const stored = await must('GET', `${BASE}/flags/hf`);
      expect((await request('DELETE', `${BASE}/flags/hf`, undefined, stored.version)).status).toBe(409);
      expect((await replace('flags', 'hf', withRules([]))).status).toBe(409);
      expect((await lifecycle('hole-f', 'stop')).status).toBe(200);
      expect((await request('DELETE', `${BASE}/flags/hf`, undefined, stored.version)).status).toBe(204);
      expect((await lifecycle('hole-f', 'resume')).status).toBe(200);

      const recreated = await request('POST', `${BASE}/flags`, experimentFlag('hf', 'hole-f', BLUE_RED));

      expect(recreated.status).toBe(400);
      expect(recreated.body.error.message).toContain('experiment rule "e" in "development" (running experiment "hole-f"): arm "control" would get "blue" instead of "red"');
      expect((await request('POST', `${BASE}/flags`, experimentFlag('hf', 'hole-f', RED_BLUE))).status).toBe(201);
      redForControl(await served(['hf']));
    });

    it('refuses a running experiment taken back into an environment where a flag was reordered while it ran elsewhere (409)', async () => {
      await must('POST', `${BASE}/experiments`, { ...running('hole-env'), environments: ['development', 'staging'] });
      await must('POST', `${BASE}/flags`, experimentFlag('he', 'hole-env', RED_BLUE));
      const before = await served(['he']);
      redForControl(before);
      expect((await replace('experiments', 'hole-env', (d) => ({ ...d, environments: ['staging'] }))).status).toBe(200);
      expect((await replace('flags', 'he', withVariations(BLUE_RED))).status).toBe(200);
      const elsewhere = await served(['he']);

      const back = await replace('experiments', 'hole-env', (d) => ({ ...d, environments: ['development', 'staging'] }));

      expect(back.status).toBe(409);
      expect(back.body.error.message).toContain('experiment "hole-env" cannot run in these environments');
      expect(back.body.error.message).toContain('flag "he", experiment rule "e" in "development": arm "control" would get "blue" instead of "red"');
      expect((await must('GET', `${BASE}/experiments/hole-env`)).definition.environments).toEqual(['staging']);
      expect(await served(['he'])).toEqual(elsewhere);
    });

    it('records, for an experiment running before the record was kept, what the stored flag serves on its first change', async () => {
      await must('POST', `${BASE}/experiments`, running('legacy'));
      await must('POST', `${BASE}/flags`, experimentFlag('lc', 'legacy', RED_BLUE));
      // A database from before migration 0031: no record.
      await p.db.query('DELETE FROM experiment_arm_mappings WHERE project_id = $1 AND experiment = $2', [projectId, 'legacy']);

      expect((await replace('flags', 'lc', withVariations([...RED_BLUE, { key: 'green', value: '#0f0' }]))).status).toBe(200);
      expect(await recorded('legacy')).toEqual([{ flag_key: 'lc', environment: 'development', mapping: { control: 'red', treatment: 'blue' } }]);
      const back = await replace('flags', 'lc', withVariations([RED_BLUE[1], RED_BLUE[0], { key: 'green', value: '#0f0' }]));

      expect(back.status).toBe(400);
      expect(back.body.error.message).toContain('arm "control" would get "blue" instead of "red"');
    });

    it('lets a variation be added at the end, an unrelated rule change, and the rule move or be renamed with what it serves kept', async () => {
      await must('POST', `${BASE}/experiments`, running('legit'));
      await must('POST', `${BASE}/flags`, experimentFlag('lg', 'legit', RED_BLUE));
      const before = await served(['lg']);
      redForControl(before);

      const added = await replace('flags', 'lg', withVariations([...RED_BLUE, { key: 'green', value: '#0f0' }]));
      const force = { id: 'nz', type: 'force', variation: 'green', condition: { country: 'NZ' } };
      const unrelated = await replace('flags', 'lg', withRules([force, { id: 'e', type: 'experiment', experiment: 'legit' }]));
      const forceChanged = await replace('flags', 'lg', withRules([{ ...force, variation: 'blue' }, { id: 'e', type: 'experiment', experiment: 'legit' }]));
      const renamedKept = await replace('flags', 'lg', withRules([{ ...force, variation: 'blue' }, { id: 'e-kept', type: 'experiment', experiment: 'legit', variations: { control: 'red', treatment: 'blue' } }]));

      expect(added.status).toBe(200);
      expect(unrelated.status).toBe(200);
      expect(forceChanged.status).toBe(200);
      expect(renamedKept.status).toBe(200);
      expect(await served(['lg'])).toEqual(before);
      expect(await recorded('legit')).toEqual([{ flag_key: 'lg', environment: 'development', mapping: { control: 'red', treatment: 'blue' } }]);
    });

    it('records afresh for an experiment deleted and created again with the same key', async () => {
      await must('POST', `${BASE}/experiments`, running('again'));
      await must('POST', `${BASE}/flags`, experimentFlag('ag', 'again', RED_BLUE));
      redForControl(await served(['ag']));
      expect((await lifecycle('again', 'stop')).status).toBe(200);
      expect((await replace('flags', 'ag', withRules([]))).status).toBe(200);
      expect((await replace('flags', 'ag', withVariations(BLUE_RED))).status).toBe(200);
      const stopped = await must('GET', `${BASE}/experiments/again`);
      expect((await request('DELETE', `${BASE}/experiments/again`, undefined, stopped.version)).status).toBe(204);
      expect(await recorded('again')).toEqual([]);

      await must('POST', `${BASE}/experiments`, running('again'));
      const back = await replace('flags', 'ag', withRules([{ id: 'e', type: 'experiment', experiment: 'again' }]));

      expect(back.status).toBe(200);
      const now = await served(['ag']);
      expect(new Set([...now.values()].map((v) => `${v[1]}→${v[0]}`))).toEqual(new Set(['control→blue', 'treatment→red']));
      expect(await recorded('again')).toEqual([{ flag_key: 'ag', environment: 'development', mapping: { control: 'blue', treatment: 'red' } }]);
      // The new record holds from now on.
      const reordered = await replace('flags', 'ag', withVariations(RED_BLUE));
      expect(reordered.status).toBe(400);
      expect(reordered.body.error.message).toContain('arm "control" would get "red" instead of "blue"');
    });
  });
});
