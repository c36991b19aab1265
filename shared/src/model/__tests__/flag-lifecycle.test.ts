import { describe, expect, it } from 'vitest';
import { evaluateFlag } from '../../eval/evaluate.js';
import { compileRuleset } from '../compile-ruleset.js';
import { flagSchema, unconfiguredOffVariation } from '../flag.js';
import type { FlagEnvironment, FlagInput, RuleInput } from '../flag.js';
import { experimentSchema } from '../experiment.js';
import type { Experiment } from '../experiment.js';
import { DEFAULT_STALE_DAYS, experimentsUsing, prerequisiteDependents, servedToEveryone, servingParts, staleFlag, staleVariation } from '../flag-lifecycle.js';

const NOW = new Date('2026-11-25T12:00:00Z');
const LONG_AGO = '2026-09-01T00:00:00Z';

type EnvInput = Omit<FlagEnvironment, 'rules' | 'prerequisites'> & { rules?: RuleInput[]; prerequisites?: { flag: string; variation: string }[] };

function flag(environments: Record<string, EnvInput>, extra: Partial<FlagInput> = {}): ReturnType<typeof flagSchema.parse> {
  return flagSchema.parse({
    key: 'checkout',
    name: 'Checkout',
    type: 'string',
    variations: [
      { key: 'old', value: 'old' },
      { key: 'new', value: 'new' },
    ],
    environments,
    ...extra,
  });
}

const on = (rules: RuleInput[], defaultVariation = 'old'): EnvInput => ({ enabled: true, defaultVariation, offVariation: 'old', rules });

/** What every one of 400 varied units (some without an id, some with only an anonymous id) is served in the environment, through the real evaluator. */
function servedValues(f: ReturnType<typeof flag>, environment: string, at = NOW): Set<string> {
  const ruleset = compileRuleset({ environment, version: 1, flags: [f], generatedAt: at });
  const seen = new Set<string>();
  for (let i = 0; i < 400; i++) {
    const ids = i % 10 === 0 ? {} : i % 10 === 1 ? { anonymousId: `a${i}` } : { id: `u${i}` };
    const r = evaluateFlag(ruleset, 'checkout', { attributes: { ...ids, country: i % 3 === 0 ? 'FR' : 'US', plan: i % 2 === 0 ? 'pro' : 'free' }, now: at.getTime() });
    seen.add(String(r.value));
  }
  return seen;
}

describe('servedToEveryone', () => {
  const LATER = new Date('2027-01-15T00:00:00Z');
  /** `at`: a later moment whose evaluations differ from now's, for a state that changes over time. */
  const cases: { name: string; env: EnvInput; expected: string | undefined; at?: Date }[] = [
    { name: 'off: the off variation', env: { enabled: false, defaultVariation: 'new', offVariation: 'old' }, expected: 'old' },
    { name: 'on without rules: the default', env: on([], 'new'), expected: 'new' },
    { name: 'an unconditional force rule first', env: on([{ id: 'all', type: 'force', variation: 'new' }]), expected: 'new' },
    // Units without the hash attribute (nor the fallback) skip a rollout or split: what follows decides for them.
    { name: 'a full rollout, units without an id getting the default', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 1 }]), expected: undefined },
    { name: 'a full rollout to the default variation', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 1 }], 'new'), expected: 'new' },
    { name: 'a full rollout with a fallback attribute', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 1, fallbackAttribute: 'anonymousId' }]), expected: undefined },
    { name: 'a full rollout before a force rule to the same variation', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 1 }, { id: 'all', type: 'force', variation: 'new' }]), expected: 'new' },
    { name: 'a split with one weighted variation', env: on([{ id: 's', type: 'split', distribution: [{ variation: 'new', weight: 1 }, { variation: 'old', weight: 0 }] }]), expected: undefined },
    { name: 'a split with one weighted variation, the default', env: on([{ id: 's', type: 'split', distribution: [{ variation: 'new', weight: 1 }, { variation: 'old', weight: 0 }] }], 'new'), expected: 'new' },
    { name: 'targeting that serves the default anyway', env: on([{ id: 'fr', type: 'force', variation: 'old', condition: { country: 'FR' } }]), expected: 'old' },
    { name: 'a disabled rule', env: on([{ id: 'fr', type: 'force', variation: 'new', condition: { country: 'FR' }, enabled: false }]), expected: 'old' },
    { name: 'a rule whose window has ended', env: on([{ id: 'fr', type: 'force', variation: 'new', activeUntil: '2026-11-01T00:00:00Z' }]), expected: 'old' },
    { name: 'targeting serving another variation', env: on([{ id: 'fr', type: 'force', variation: 'new', condition: { country: 'FR' } }]), expected: undefined },
    { name: 'a partial rollout', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 0.5 }]), expected: undefined },
    { name: 'a 50/50 split', env: on([{ id: 's', type: 'split', distribution: [{ variation: 'new', weight: 0.5 }, { variation: 'old', weight: 0.5 }] }]), expected: undefined },
    { name: 'a rule that starts later', env: on([{ id: 'later', type: 'force', variation: 'new', activeFrom: '2026-12-24T00:00:00Z' }]), expected: undefined, at: LATER },
    { name: 'a ramp that has reached everyone', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 0.1, schedule: [{ at: '2026-11-01T00:00:00Z', coverage: 0.5 }, { at: '2026-11-10T00:00:00Z', coverage: 1 }] }]), expected: undefined },
    { name: 'a ramp rolled back to no one', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 0.1, schedule: [{ at: '2026-11-01T00:00:00Z', coverage: 0.5 }, { at: '2026-11-10T00:00:00Z', coverage: 0 }] }]), expected: 'old' },
    { name: 'a rule whose window has opened', env: on([{ id: 'all', type: 'force', variation: 'new', activeFrom: '2026-11-01T00:00:00Z' }]), expected: 'new' },
    { name: 'a ramp still under way', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 0.1, schedule: [{ at: '2026-11-01T00:00:00Z', coverage: 0.5 }] }]), expected: undefined },
    { name: 'a ramp with a step to come', env: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 1, schedule: [{ at: '2026-11-01T00:00:00Z', coverage: 1 }, { at: '2026-12-20T00:00:00Z', coverage: 0.5 }] }]), expected: undefined, at: LATER },
    { name: 'targeting before an unconditional rule to another variation', env: on([{ id: 'fr', type: 'force', variation: 'old', condition: { country: 'FR' } }, { id: 'all', type: 'force', variation: 'new' }]), expected: undefined },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.expected ?? 'none'}, as the evaluator serves`, () => {
      const f = flag({ production: c.env });
      expect(servedToEveryone(f, 'production', NOW)).toBe(c.expected);
      const values = new Set([...servedValues(f, 'production'), ...(c.at === undefined ? [] : servedValues(f, 'production', c.at))]);
      // One variation for everyone exactly when the evaluator (now and, for states that change, later) serves just it.
      expect(values.size === 1 ? [...values][0] : undefined).toBe(c.expected);
    });
  }

  it('gives none for prerequisites or an experiment rule', () => {
    expect(servedToEveryone(flag({ production: { ...on([]), prerequisites: [{ flag: 'other', variation: 'on' }] } }), 'production', NOW)).toBeUndefined();
    expect(servedToEveryone(flag({ production: on([{ id: 'x', type: 'experiment', experiment: 'exp' }]) }), 'production', NOW)).toBeUndefined();
  });

  it('gives the off variation where the flag has no state, as the published ruleset serves it', () => {
    const f = flag({ production: on([], 'new') });
    expect(servedToEveryone(f, 'staging', NOW)).toBe('old');
    expect([...servedValues(f, 'staging')]).toEqual(['old']);
    expect(servedToEveryone(f, 'constructor', NOW)).toBe('old');
    // The off variation the states agree on, even when it is not the first.
    const offIsNew = flag({ production: { ...on([], 'old'), offVariation: 'new' }, development: { enabled: false, defaultVariation: 'old', offVariation: 'new' } });
    expect(servedToEveryone(offIsNew, 'staging', NOW)).toBe('new');
    expect([...servedValues(offIsNew, 'staging')]).toEqual(['new']);
  });

  it('gives a boolean flag listed "on" first its false variation where it has no state, never true', () => {
    const variations = [
      { key: 'on', value: true },
      { key: 'off', value: false },
    ];
    const none = flag({}, { type: 'boolean', variations });
    const disagree = flag({ development: { enabled: false, defaultVariation: 'on', offVariation: 'on' }, staging: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }, { type: 'boolean', variations });
    for (const f of [none, disagree]) {
      expect(servedToEveryone(f, 'production', NOW)).toBe('off');
      expect(unconfiguredOffVariation(f)).toBe('off');
      const ruleset = compileRuleset({ environment: 'production', version: 1, flags: [f], generatedAt: NOW });
      expect(evaluateFlag(ruleset, 'checkout', { attributes: { id: 'u1' } })).toMatchObject({ value: false, variationKey: 'off', reason: 'DISABLED' });
    }
    // States that disagree on a string flag: the first variation.
    expect(unconfiguredOffVariation(flag({ a: { enabled: false, defaultVariation: 'old', offVariation: 'new' }, b: { enabled: false, defaultVariation: 'old', offVariation: 'old' } }))).toBe('old');
  });
});

describe('staleVariation', () => {
  const everywhere = flag({ production: on([{ id: 'all', type: 'force', variation: 'new' }]), staging: on([], 'new') });
  const stale = (f: ReturnType<typeof flag>, extra: Partial<Parameters<typeof staleVariation>[1]> = {}): string | undefined => staleVariation(f, { updatedAt: LONG_AGO, archived: false, now: NOW, ...extra });

  it('names the variation a temporary flag serves to everyone in every environment, unchanged for the period', () => {
    expect(stale(everywhere)).toBe('new');
    expect(stale(everywhere, { environments: ['production', 'staging'] })).toBe('new');
    // Development, where it has no state, serves the first variation ("old").
    expect(stale(everywhere, { environments: ['production', 'staging', 'development'] })).toBeUndefined();
  });

  it('is not stale while environments differ, since replacing the calls would change one of them', () => {
    expect(stale(flag({ production: on([], 'new'), staging: { enabled: false, defaultVariation: 'new', offVariation: 'old' } }))).toBeUndefined();
    // On only where it was set up (development): production, without a state, serves the first variation.
    const devOnly = flag({ development: on([], 'new') });
    expect(stale(devOnly)).toBe('new');
    expect(stale(devOnly, { environments: ['development', 'production'] })).toBeUndefined();
  });

  it('is not stale when changed recently, permanent, archived, or of unknown age', () => {
    const recent = new Date(NOW.getTime() - (DEFAULT_STALE_DAYS - 1) * 86_400_000).toISOString();
    expect(stale(everywhere, { updatedAt: recent })).toBeUndefined();
    expect(stale(everywhere, { updatedAt: recent, days: 7 })).toBe('new');
    expect(stale(flag({ production: on([], 'new') }, { temporary: false }))).toBeUndefined();
    expect(stale(everywhere, { archived: true })).toBeUndefined();
    expect(stale(everywhere, { updatedAt: null })).toBeUndefined();
    expect(stale(everywhere, { updatedAt: 'yesterday' })).toBeUndefined();
  });

  it('is not stale for a full rollout whose units without an id get another default (as the evaluator serves them)', () => {
    const rollout = (defaultVariation: string): EnvInput => on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 1 }], defaultVariation);
    const everyEnv = (defaultVariation: string) => flag({ development: rollout(defaultVariation), staging: rollout(defaultVariation), production: rollout(defaultVariation) });
    expect(stale(everyEnv('old'))).toBeUndefined();
    expect(evaluateFlag(compileRuleset({ environment: 'production', version: 1, flags: [everyEnv('old')], generatedAt: NOW }), 'checkout', { attributes: {} }, { explain: true })).toMatchObject({ value: 'old', trace: [{ ruleId: 'r', outcome: 'no-hash-attribute' }] });
    expect(stale(everyEnv('new'))).toBe('new');
  });

  it('counts from when the flag came to serve one variation, when that is after its last change', () => {
    const DAY = 86_400_000;
    const ago = (days: number): string => new Date(NOW.getTime() - days * DAY).toISOString();
    // Last edited 40 days ago; a ramp rolled back to 0 yesterday: everyone has had the default for a day only.
    const rolledBack = flag({ production: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 0.5, schedule: [{ at: ago(1), coverage: 0 }] }]) });
    const ramp = { updatedAt: ago(40) };
    expect(stale(rolledBack, ramp)).toBeUndefined();
    expect(staleFlag(rolledBack, { ...ramp, archived: false, now: new Date(NOW.getTime() + (DEFAULT_STALE_DAYS - 2) * DAY) })).toBeUndefined();
    expect(staleFlag(rolledBack, { ...ramp, archived: false, now: new Date(NOW.getTime() + (DEFAULT_STALE_DAYS - 1) * DAY) })).toEqual({ variation: 'old', since: ago(1) });
    // A rule's window opening (to everyone) or closing (back to the default) starts the clock too.
    const opened = flag({ production: on([{ id: 'all', type: 'force', variation: 'new', activeFrom: ago(2) }]) });
    const closed = flag({ production: on([{ id: 'all', type: 'force', variation: 'new', activeUntil: ago(3) }]) });
    expect(staleFlag(opened, { ...ramp, archived: false, now: NOW, days: 1 })).toEqual({ variation: 'new', since: ago(2) });
    expect(staleFlag(closed, { ...ramp, archived: false, now: NOW, days: 1 })).toEqual({ variation: 'old', since: ago(3) });
    expect(stale(opened, ramp)).toBeUndefined();
    expect(stale(closed, ramp)).toBeUndefined();
    // A boundary that changed nothing (the same variation before and after) does not restart it.
    const same = flag({ production: on([{ id: 'all', type: 'force', variation: 'old', activeUntil: ago(3) }]) });
    expect(staleFlag(same, { ...ramp, archived: false, now: NOW })).toEqual({ variation: 'old', since: ago(40) });
    // Nor one before the last change, which the clock starts from anyway.
    expect(staleFlag(closed, { updatedAt: ago(2), archived: false, now: NOW, days: 1 })).toEqual({ variation: 'old', since: ago(2) });
  });

  it('is not stale when an environment serves units differently', () => {
    expect(stale(flag({ production: on([], 'new'), staging: on([{ id: 'r', type: 'rollout', variation: 'new', coverage: 0.2 }]) }))).toBeUndefined();
  });
});

describe('stale flags and experiments, prerequisites and the serving clock', () => {
  const DAY = 86_400_000;
  const ago = (days: number): string => new Date(NOW.getTime() - days * DAY).toISOString();
  const experiment = (fields: Partial<Experiment>): Experiment =>
    experimentSchema.parse({ key: 'exp', name: 'Exp', variations: [{ key: 'control' }, { key: 'treatment' }], ...fields });
  // Control serves "old", treatment "new" (mapped by the rule), in every environment of the flag.
  const wired = (environments = ['production', 'staging']): ReturnType<typeof flag> =>
    flag(Object.fromEntries(environments.map((e) => [e, on([{ id: 'x', type: 'experiment', experiment: 'exp', variations: { control: 'old', treatment: 'new' } }])])));
  const shipped = experiment({ status: 'stopped', startedAt: ago(60), stoppedAt: ago(40), decision: 'ship', winner: 'treatment', releaseWinner: true });

  it('serves an ended experiment\'s released winner to everyone the rule reaches, as the evaluator does', () => {
    const f = wired();
    expect(servedToEveryone(f, 'production', NOW, [shipped])).toBe('new');
    const ruleset = compileRuleset({ environment: 'production', version: 1, flags: [f], experiments: [shipped], generatedAt: NOW });
    const values = new Set(Array.from({ length: 200 }, (_, i) => String(evaluateFlag(ruleset, 'checkout', { attributes: i % 10 === 0 ? {} : { id: `u${i}` } }).value)));
    expect(values).toEqual(new Set(['new']));
    // Stopped with no winner released: the rule is left out, and units fall through to the default.
    const noRelease = experiment({ status: 'stopped', startedAt: ago(60), stoppedAt: ago(40), decision: 'rollback' });
    expect(servedToEveryone(f, 'production', NOW, [noRelease])).toBe('old');
    expect(evaluateFlag(compileRuleset({ environment: 'production', version: 1, flags: [f], experiments: [noRelease], generatedAt: NOW }), 'checkout', { attributes: { id: 'u1' } }).value).toBe('old');
    // Running, unknown, or stopped only after `now`: units get either.
    expect(servedToEveryone(f, 'production', NOW, [experiment({ status: 'running', startedAt: ago(5) })])).toBeUndefined();
    expect(servedToEveryone(f, 'production', NOW)).toBeUndefined();
    expect(servedToEveryone(f, 'production', NOW, [])).toBeUndefined();
    expect(servedToEveryone(f, 'production', new Date(Date.parse(ago(41))), [shipped])).toBeUndefined();
  });

  it('calls a flag stale once its experiment ended with one variation for everyone, counted from the stop', () => {
    const f = wired();
    // The stored experiment last changed when it stopped.
    const options = { updatedAt: ago(90), archived: false, now: NOW, experiments: [{ ...shipped, updatedAt: ago(40) }] };
    expect(staleFlag(f, options)).toEqual({ variation: 'new', since: ago(40) });
    // The same, archived after it stopped (archiving does not change what it serves, but counts as its change).
    expect(staleFlag(f, { ...options, experiments: [{ ...shipped, archived: true, updatedAt: ago(35) }] })).toEqual({ variation: 'new', since: ago(35) });
    // Stopped 10 days ago: not yet.
    expect(staleFlag(f, { ...options, experiments: [{ ...shipped, stoppedAt: ago(10), updatedAt: ago(10) }] })).toBeUndefined();
    expect(staleFlag(f, { ...options, experiments: [{ ...shipped, stoppedAt: ago(10), updatedAt: ago(10) }], days: 7 })).toEqual({ variation: 'new', since: ago(10) });
    // The experiments' status unknown: the old conservative answer.
    expect(staleFlag(f, { ...options, experiments: undefined })).toBeUndefined();
    expect(staleFlag(f, { ...options, experiments: [] })).toBeUndefined();
  });

  it("starts the clock no earlier than the ended experiment's last change: shipped today after an inconclusive stop 40 days ago is not stale", () => {
    const f = wired();
    const options = { updatedAt: ago(90), archived: false, now: NOW };
    // Its decision, winner and release written yesterday, 40 days after the stop.
    const shippedLater = { ...shipped, updatedAt: ago(1) };
    expect(staleFlag(f, { ...options, experiments: [shippedLater] })).toBeUndefined();
    expect(staleFlag(f, { ...options, experiments: [shippedLater], days: 0 })).toEqual({ variation: 'new', since: ago(1) });
    // Taken out of an environment later: what it serves there changed then.
    const narrowed = { ...shipped, environments: ['staging'], updatedAt: ago(3) };
    expect(staleFlag(wired(['production']), { ...options, experiments: [narrowed], days: 0 })).toEqual({ variation: 'old', since: ago(3) });
    // When it last changed unknown: not stale.
    expect(staleFlag(f, { ...options, experiments: [shipped], days: 0 })).toBeUndefined();
    expect(staleFlag(f, { ...options, experiments: [{ ...shipped, updatedAt: null }], days: 0 })).toBeUndefined();
  });

  it('is never stale while a rule in any environment names a running experiment (or a draft about to run), even off everywhere', () => {
    const offEverywhere = flag({
      production: { enabled: false, defaultVariation: 'old', offVariation: 'old', rules: [{ id: 'x', type: 'experiment', experiment: 'exp-prod' }] },
      staging: { enabled: false, defaultVariation: 'old', offVariation: 'old' },
    }, { key: 'exp-off' });
    const options = { updatedAt: ago(90), archived: false, now: NOW };
    const running = experiment({ key: 'exp-prod', status: 'running', startedAt: ago(5), environments: ['production'] });
    expect(staleFlag(offEverywhere, { ...options, experiments: [running] })).toBeUndefined();
    expect(experimentsUsing(offEverywhere, [running])).toEqual(['exp-prod']);
    // Its status unknown: not stale either.
    expect(staleFlag(offEverywhere, options)).toBeUndefined();
    expect(staleFlag(offEverywhere, { ...options, experiments: [] })).toBeUndefined();
    expect(staleFlag(offEverywhere, { ...options, experiments: [experiment({ key: 'exp-prod', environments: ['production'] })] })).toBeUndefined();
    // Once it ended (or the draft was archived), the off variation everyone gets makes it stale.
    expect(staleFlag(offEverywhere, { ...options, experiments: [{ ...running, status: 'stopped', stoppedAt: ago(40), updatedAt: ago(40) }] })).toEqual({ variation: 'old', since: ago(40) });
    expect(staleFlag(offEverywhere, { ...options, experiments: [{ ...experiment({ key: 'exp-prod', archived: true }), updatedAt: ago(60) }] })).toEqual({ variation: 'old', since: ago(60) });
    // The staging-only answer does not look at production's rule: it is still wired there.
    expect(staleFlag(offEverywhere, { ...options, environments: ['staging'], experiments: [running] })).toBeUndefined();
  });

  it('names the flags whose prerequisites hold a stale parent, which must drop them before it is archived', () => {
    const parent = flag({ production: on([], 'new') }, { key: 'parent' });
    const child = (key: string, archived = false): ReturnType<typeof flag> =>
      flag({ production: { ...on([], 'new'), prerequisites: [{ flag: 'parent', variation: 'new' }] } }, { key, archived });
    const flags = [parent, child('b-child'), child('a-child'), child('gone', true), flag({ production: on([], 'new') }, { key: 'other' })];
    expect(prerequisiteDependents('parent', flags)).toEqual(['a-child', 'b-child']);
    const options = { updatedAt: LONG_AGO, archived: false, now: NOW };
    expect(staleFlag(parent, { ...options, flags })).toEqual({ variation: 'new', since: new Date(LONG_AGO).toISOString(), dependents: ['a-child', 'b-child'] });
    // Without the other flags, or with none naming it: as before.
    expect(staleFlag(parent, options)).toEqual({ variation: 'new', since: new Date(LONG_AGO).toISOString() });
    expect(staleFlag(parent, { ...options, flags: [parent, child('gone', true)] })).toEqual({ variation: 'new', since: new Date(LONG_AGO).toISOString() });
  });

  it('starts the clock at the last change to what the flag serves, not at a metadata edit', () => {
    const f = flag({ production: on([], 'new') });
    // Tagged yesterday, serving unchanged for 40 days.
    expect(staleFlag(f, { servingChangedAt: ago(40), updatedAt: ago(1), archived: false, now: NOW })).toEqual({ variation: 'new', since: ago(40) });
    expect(staleFlag(f, { servingChangedAt: ago(1), updatedAt: ago(1), archived: false, now: NOW })).toBeUndefined();
    // Data without it (older servers and caches): updatedAt, as before.
    expect(staleFlag(f, { servingChangedAt: undefined, updatedAt: ago(1), archived: false, now: NOW })).toBeUndefined();
    expect(staleFlag(f, { servingChangedAt: null, updatedAt: ago(40), archived: false, now: NOW })).toEqual({ variation: 'new', since: ago(40) });
  });
});

describe('servingParts', () => {
  const withRule = (rule: Record<string, unknown>) =>
    flagSchema.parse({
      key: 'f',
      name: 'F',
      type: 'boolean',
      variations: [
        { key: 'off', value: false },
        { key: 'on', value: true },
      ],
      environments: { production: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'r', type: 'force', variation: 'on', ...rule }] } },
    });

  it("leaves out a rule's description and its default enabled: true; its id and enabled: false count", () => {
    const plain = servingParts(withRule({}));
    expect(servingParts(withRule({ description: 'why' }))).toEqual(plain);
    expect(servingParts(withRule({ enabled: true }))).toEqual(plain);
    expect(servingParts(withRule({ enabled: false }))).not.toEqual(plain);
    expect(servingParts(withRule({ id: 'renamed' }))).not.toEqual(plain);
    expect(servingParts(withRule({ variation: 'off' }))).not.toEqual(plain);
  });
});
