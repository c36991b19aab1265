import { describe, expect, it } from 'vitest';
import type { StoredEnvironment } from '@xp/shared';
import {
  appChoices,
  appTotals,
  bucketStarts,
  chartRows,
  countingCovers,
  countingStart,
  defaultEnvironment,
  droppedCount,
  environmentCounts,
  formatAgo,
  keyApps,
  namedApps,
  notEvaluated,
  rangeQuery,
  sortByLastEvaluated,
  undefinedKeys,
  unevaluated,
  variationOrder,
  variationTotals,
} from '../evaluations-model.js';
import type { FlagEvaluationsView, ProjectEvaluationsView } from '../evaluations-model.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-12-07T09:30:00Z');

const env = (key: string, production = false): StoredEnvironment => ({ key, name: key, production, requireApproval: false, version: 1, position: 0 });

describe('the range picked and its buckets', () => {
  it('asks for hours over 24 hours and days beyond, ending now', () => {
    expect(rangeQuery('24h', NOW)).toEqual({ from: '2026-12-06T09:30:00.000Z', to: '2026-12-07T09:30:00.000Z', interval: 'hour' });
    expect(rangeQuery('7d', NOW)).toEqual({ from: '2026-11-30T09:30:00.000Z', to: '2026-12-07T09:30:00.000Z', interval: 'day' });
    expect(rangeQuery('90d', NOW).from).toBe('2026-09-08T09:30:00.000Z');
  });

  it('covers the range with UTC hours or days, the partial first and last ones included', () => {
    const hours = bucketStarts(NOW - DAY, NOW, 'hour');
    expect(hours).toHaveLength(25);
    expect(new Date(hours[0]!).toISOString()).toBe('2026-12-06T09:00:00.000Z');
    expect(new Date(hours.at(-1)!).toISOString()).toBe('2026-12-07T09:00:00.000Z');
    const days = bucketStarts(NOW - 7 * DAY, NOW, 'day');
    expect(days.map((d) => new Date(d).toISOString().slice(0, 10))).toEqual(['2026-11-30', '2026-12-01', '2026-12-02', '2026-12-03', '2026-12-04', '2026-12-05', '2026-12-06', '2026-12-07']);
    expect(bucketStarts(NOW, NOW - 1, 'day')).toEqual([]);
    expect(bucketStarts(NaN, NOW, 'day')).toEqual([]);
  });
});

const VIEW: FlagEvaluationsView = {
  flag: 'checkout-v2',
  from: new Date(NOW - 3 * DAY).toISOString(),
  to: new Date(NOW).toISOString(),
  interval: 'day',
  series: [
    { at: '2026-12-04T00:00:00.000Z', environment: 'production', variation: 'on', count: 120 },
    { at: '2026-12-04T00:00:00.000Z', environment: 'production', variation: null, count: 4 },
    { at: '2026-12-06T00:00:00.000Z', environment: 'production', variation: 'off', count: 31 },
    // Not on a bucket start: counted in the day that holds it.
    { at: '2026-12-06T13:00:00.000Z', environment: 'production', variation: 'off', count: 9 },
    // Another environment, and a day before the range: left out.
    { at: '2026-12-06T00:00:00.000Z', environment: 'staging', variation: 'on', count: 1000 },
    { at: '2026-12-01T00:00:00.000Z', environment: 'production', variation: 'on', count: 5000 },
    // A variation since removed from the flag.
    { at: '2026-12-07T00:00:00.000Z', environment: 'production', variation: 'legacy', count: 2 },
  ],
  totals: [
    { environment: 'production', variation: 'on', count: 120 },
    { environment: 'production', variation: 'off', count: 40 },
    { environment: 'production', variation: null, count: 4 },
    { environment: 'production', variation: 'legacy', count: 2 },
    { environment: 'staging', variation: 'on', count: 1000 },
  ],
  lastEvaluated: [{ environment: 'production', at: '2026-12-07T09:27:00.000Z' }],
  apps: [{ app: null, count: 1166, lastEvaluatedAt: '2026-12-07T09:27:00.000Z' }],
  countingSince: [{ environment: 'production', since: '2026-11-01T00:00:00.000Z' }],
};

describe('a flag in one environment', () => {
  it('orders the flag\'s variations first, removed ones after, the default served last', () => {
    expect(variationOrder(['off', 'on'], ['on', null, 'legacy', 'off', 'aaa', null])).toEqual(['off', 'on', 'aaa', 'legacy', null]);
    expect(variationOrder(['off', 'on'], [])).toEqual(['off', 'on']);
  });

  it('buckets the environment\'s counts into every day of the range, zero where none', () => {
    const rows = chartRows(VIEW, 'production', ['off', 'on', 'legacy', null]);
    expect(rows.map((r) => [r.x, r.off, r.on, r.legacy, r['default served']])).toEqual([
      ['Dec 4', 0, 120, 0, 4],
      ['Dec 5', 0, 0, 0, 0],
      ['Dec 6', 40, 0, 0, 0],
      ['Dec 7', 0, 0, 2, 0],
    ]);
    expect(rows[0]!.range).toBe('Dec 4 – Dec 5 UTC');
  });

  it('draws the buckets before counting began in the environment as no data, not as zeros', () => {
    // Counting began on Dec 5 at 13:00: Dec 4 is wholly before (no data); Dec 5 partly counted, so a real zero.
    const recent: FlagEvaluationsView = { ...VIEW, countingSince: [{ environment: 'production', since: '2026-12-05T13:00:00.000Z' }, { environment: 'staging', since: '2026-09-01T00:00:00.000Z' }] };
    const rows = chartRows({ ...recent, series: VIEW.series.filter((p) => p.at !== '2026-12-04T00:00:00.000Z') }, 'production', ['off', 'on', null]);
    expect(rows.map((r) => [r.x, r.off, r.on, r['default served']])).toEqual([
      ['Dec 4', null, null, null],
      ['Dec 5', 0, 0, 0],
      ['Dec 6', 40, 0, 0],
      ['Dec 7', 0, 0, 0],
    ]);
    // A server that does not say since when counts arrive: an empty bucket is no data, a counted one its counts.
    const { countingSince: _unknown, ...older } = VIEW;
    expect(chartRows(older as FlagEvaluationsView, 'production', ['off', 'on']).map((r) => [r.x, r.off, r.on])).toEqual([
      ['Dec 4', 0, 120],
      ['Dec 5', null, null],
      ['Dec 6', 40, 0],
      ['Dec 7', 0, 0],
    ]);
  });

  it('labels hourly buckets with their UTC hour', () => {
    const hourly: FlagEvaluationsView = { ...VIEW, from: '2026-12-07T06:10:00.000Z', to: '2026-12-07T09:30:00.000Z', interval: 'hour', series: [{ at: '2026-12-07T08:00:00.000Z', environment: 'production', variation: 'on', count: 7 }], countingSince: [{ environment: 'production', since: '2026-12-07T07:00:00.000Z' }] };
    expect(chartRows(hourly, 'production', ['on']).map((r) => [r.x, r.on])).toEqual([
      ['Dec 7, 06:00', null],
      ['Dec 7, 07:00', 0],
      ['Dec 7, 08:00', 7],
      ['Dec 7, 09:00', 0],
    ]);
  });

  it('gives each variation its share of the environment\'s evaluations, and no rows (no NaN) without any', () => {
    const totals = variationTotals(VIEW, 'production', ['off', 'on', 'legacy', null]);
    expect(totals.map((t) => [t.variation, t.count, t.share.toFixed(4)])).toEqual([
      ['off', 40, (40 / 166).toFixed(4)],
      ['on', 120, (120 / 166).toFixed(4)],
      ['legacy', 2, (2 / 166).toFixed(4)],
      [null, 4, (4 / 166).toFixed(4)],
    ]);
    expect(totals.reduce((a, t) => a + t.share, 0)).toBeCloseTo(1, 10);
    expect(variationTotals(VIEW, 'development', ['off', 'on'])).toEqual([]);
    expect(variationTotals({ ...VIEW, totals: [{ environment: 'production', variation: 'on', count: 0 }] }, 'production', ['on'])).toEqual([]);
  });

  it('opens on the first production environment, else the first', () => {
    expect(defaultEnvironment([env('development'), env('staging'), env('production', true), env('prod-eu', true)])).toBe('production');
    expect(defaultEnvironment([env('development'), env('staging')])).toBe('development');
    expect(defaultEnvironment([])).toBeUndefined();
  });
});

describe('relative times', () => {
  it('says how long ago, in whole units with thousands separators', () => {
    expect(formatAgo('2026-12-07T09:29:40Z', NOW)).toBe('just now');
    expect(formatAgo('2026-12-07T09:27:00Z', NOW)).toBe('3 minutes ago');
    expect(formatAgo('2026-12-07T08:30:00Z', NOW)).toBe('1 hour ago');
    expect(formatAgo('2026-12-02T09:30:00Z', NOW)).toBe('5 days ago');
    expect(formatAgo(new Date(NOW - 1500 * DAY).toISOString(), NOW)).toBe('1,500 days ago');
    // A clock a little ahead is not "in the future".
    expect(formatAgo('2026-12-07T09:31:00Z', NOW)).toBe('just now');
    expect(formatAgo('not a date', NOW)).toBe('—');
    expect(formatAgo(undefined, NOW)).toBe('—');
  });
});

const OLD = '2026-06-01T00:00:00Z';
const PROJECT: ProjectEvaluationsView = {
  since: new Date(NOW - 90 * DAY).toISOString(),
  flags: [
    { flag: 'checkout-v2', defined: true, total: 500, lastEvaluatedAt: '2026-12-07T09:27:00Z', environments: [{ environment: 'production', count: 500, lastEvaluatedAt: '2026-12-07T09:27:00Z' }], apps: [{ app: null, count: 500, lastEvaluatedAt: '2026-12-07T09:27:00Z' }] },
    { flag: 'checkuot-v2', defined: false, total: 12, lastEvaluatedAt: '2026-12-06T10:00:00Z', environments: [{ environment: 'production', count: 12, lastEvaluatedAt: '2026-12-06T10:00:00Z' }], apps: [{ app: null, count: 12, lastEvaluatedAt: '2026-12-06T10:00:00Z' }] },
    { flag: 'old-banner', defined: true, total: 3, lastEvaluatedAt: '2026-10-01T00:00:00Z', environments: [{ environment: 'production', count: 3, lastEvaluatedAt: '2026-10-01T00:00:00Z' }], apps: [{ app: null, count: 3, lastEvaluatedAt: '2026-10-01T00:00:00Z' }] },
    { flag: 'deleted-flag', defined: false, total: 40, lastEvaluatedAt: '2026-12-07T08:00:00Z', environments: [{ environment: 'production', count: 40, lastEvaluatedAt: '2026-12-07T08:00:00Z' }], apps: [{ app: null, count: 40, lastEvaluatedAt: '2026-12-07T08:00:00Z' }] },
  ],
  apps: [{ app: null, count: 555, lastEvaluatedAt: '2026-12-07T09:27:00Z' }],
  dropped: 0,
  undefinedOmitted: 0,
  // Counting for longer than the 90 days kept: the earliest hour kept is within the hour after 90 days ago.
  countingSince: [{ environment: 'production', since: '2026-09-08T10:00:00.000Z' }],
};

describe('the inactive rule', () => {
  it('marks flags older than 30 days with no evaluation in 30 days, where the environment receives counts', () => {
    // Evaluated minutes ago: active.
    expect(notEvaluated(PROJECT, { key: 'checkout-v2', createdAt: OLD }, 'production', NOW)).toBe(false);
    // Last evaluated 67 days ago, or never: not evaluated in 30 days.
    expect(notEvaluated(PROJECT, { key: 'old-banner', createdAt: OLD }, 'production', NOW)).toBe(true);
    expect(notEvaluated(PROJECT, { key: 'never-called', createdAt: OLD }, 'production', NOW)).toBe(true);
    // Created last week: maybe not in code yet.
    expect(notEvaluated(PROJECT, { key: 'never-called', createdAt: '2026-12-01T00:00:00Z' }, 'production', NOW)).toBe(false);
  });

  it('says nothing where no counts arrive at all (no SDK sends them): absence is no evidence', () => {
    expect(environmentCounts(PROJECT, 'production')).toBe(true);
    expect(environmentCounts(PROJECT, 'staging')).toBe(false);
    expect(notEvaluated(PROJECT, { key: 'never-called', createdAt: OLD }, 'staging', NOW)).toBe(false);
    const none: ProjectEvaluationsView = { since: PROJECT.since, flags: [], apps: [], dropped: 0, undefinedOmitted: 0, countingSince: [] };
    expect(environmentCounts(none, 'production')).toBe(false);
    expect(notEvaluated(none, { key: 'old-banner', createdAt: OLD }, 'production', NOW)).toBe(false);
  });
});

describe('counting that began recently', () => {
  // Upgrade day: the first counts arrived 8 minutes ago (the hour began 30 minutes ago).
  const UPGRADE_DAY: ProjectEvaluationsView = { ...PROJECT, flags: PROJECT.flags.filter((f) => f.flag === 'checkout-v2'), countingSince: [{ environment: 'production', since: '2026-12-07T09:00:00.000Z' }] };

  it('claims "not evaluated in 30 days" only when counting there began at least 30 days ago', () => {
    expect(countingStart(UPGRADE_DAY, 'production')).toBe(Date.parse('2026-12-07T09:00:00Z'));
    expect(notEvaluated(UPGRADE_DAY, { key: 'never-called', createdAt: OLD }, 'production', NOW)).toBe(false);
    const since29 = { ...UPGRADE_DAY, countingSince: [{ environment: 'production', since: new Date(NOW - 29 * DAY).toISOString() }] };
    expect(notEvaluated(since29, { key: 'never-called', createdAt: OLD }, 'production', NOW)).toBe(false);
    const since31 = { ...UPGRADE_DAY, countingSince: [{ environment: 'production', since: new Date(NOW - 31 * DAY).toISOString() }] };
    expect(notEvaluated(since31, { key: 'never-called', createdAt: OLD }, 'production', NOW)).toBe(true);
    // A server that does not say since when: nothing is claimed.
    const { countingSince: _unknown, ...older } = PROJECT;
    expect(notEvaluated(older as ProjectEvaluationsView, { key: 'never-called', createdAt: OLD }, 'production', NOW)).toBe(false);
  });

  it('covers N days when counting began N days ago, with the hour of slack of the 90 days kept', () => {
    expect(countingCovers(NOW - 90 * DAY, 90, NOW)).toBe(true);
    expect(countingCovers(NOW - 90 * DAY + HOUR, 90, NOW)).toBe(true);
    expect(countingCovers(NOW - 89 * DAY, 90, NOW)).toBe(false);
    expect(countingCovers(undefined, 1, NOW)).toBe(false);
  });

  it('says "not in N days", "since counting began", or that no counts arrive', () => {
    expect(unevaluated(NOW - 100 * DAY, true, 90, NOW)).toEqual({ kind: 'days', days: 90 });
    expect(unevaluated(NOW - 8 * 60_000, true, 90, NOW)).toEqual({ kind: 'since counting began', since: NOW - 8 * 60_000 });
    expect(unevaluated(undefined, true, 90, NOW)).toEqual({ kind: 'since counting began', since: undefined });
    expect(unevaluated(undefined, false, 90, NOW)).toEqual({ kind: 'no counts' });
  });
});

describe('the flags list', () => {
  it('lists the keys evaluated but not defined, most evaluated first', () => {
    expect(undefinedKeys(PROJECT)).toEqual({ keys: [PROJECT.flags[3], PROJECT.flags[1]], more: 0 });
  });

  it('lists at most the limit of keys no flag has, and says how many more there are', () => {
    const flood: ProjectEvaluationsView = { ...PROJECT, flags: [...PROJECT.flags, ...Array.from({ length: 300 }, (_, i) => ({ flag: `junk-${i}`, defined: false, total: 1, lastEvaluatedAt: '2026-12-07T09:00:00Z', environments: [], apps: [] }))], undefinedOmitted: 31_000 };
    const { keys, more } = undefinedKeys(flood);
    expect(keys).toHaveLength(200);
    expect(keys.slice(0, 2).map((k) => k.flag)).toEqual(['deleted-flag', 'checkuot-v2']);
    // The 102 listed beyond the 200 shown, and the 31,000 the server left out.
    expect(more).toBe(31_102);
    expect(undefinedKeys({ ...PROJECT, undefinedOmitted: 5 }, 1)).toEqual({ keys: [PROJECT.flags[3]], more: 6 });
  });

  it('sorts by last evaluation, least recent first, never evaluated before all', () => {
    const last = new Map([['b', '2026-12-07T09:00:00Z'], ['a', '2026-11-01T00:00:00Z'], ['d', 'garbage']]);
    expect(sortByLastEvaluated([{ key: 'b' }, { key: 'a' }, { key: 'd' }, { key: 'c' }], (k) => last.get(k)).map((f) => f.key)).toEqual(['c', 'd', 'a', 'b']);
  });
});

describe('applications', () => {
  const at = '2026-12-07T09:00:00Z';
  it('orders the applications most evaluated first, ties by name with none named last, with shares', () => {
    const totals = appTotals({ apps: [{ app: 'b', count: 10, lastEvaluatedAt: at }, { app: null, count: 30, lastEvaluatedAt: at }, { app: 'z', count: 30, lastEvaluatedAt: at }, { app: 'a', count: 30, lastEvaluatedAt: at }, { app: 'zero', count: 0, lastEvaluatedAt: at }] });
    expect(totals.map((t) => [t.app, t.count, t.share])).toEqual([['a', 30, 0.3], ['z', 30, 0.3], [null, 30, 0.3], ['b', 10, 0.1]]);
  });

  it('has none for an older server, which answers no apps', () => {
    expect(appTotals({})).toEqual([]);
    expect(namedApps({})).toEqual([]);
  });

  it('offers the named applications seen and the one chosen, by name', () => {
    expect(namedApps({ apps: [{ app: 'web-shop', count: 2, lastEvaluatedAt: at }, { app: null, count: 1, lastEvaluatedAt: at }] })).toEqual(['web-shop']);
    expect(appChoices(['web-shop', 'checkout-api', 'web-shop'], undefined)).toEqual(['checkout-api', 'web-shop']);
    expect(appChoices(['web-shop'], 'gone-app')).toEqual(['gone-app', 'web-shop']);
  });

  it('sorts the applications as people read names, case aside, not by code point (capitals first)', () => {
    expect(appChoices(['web-shop', 'Zeta-svc', 'checkout-api', 'Billing'], 'ofrep-java')).toEqual(['Billing', 'checkout-api', 'ofrep-java', 'web-shop', 'Zeta-svc']);
    // Names equal but for case: both offered, in a stable order.
    expect(appChoices(['web-shop', 'Web-shop'], undefined)).toEqual(['Web-shop', 'web-shop']);
    expect(appChoices(['Web-shop', 'web-shop'], undefined)).toEqual(['Web-shop', 'web-shop']);
  });

  it('reads the dropped evaluations of a flag\'s answer too, absent from older servers', () => {
    const flagView = { flag: 'f', from: at, to: at, interval: 'day' as const, series: [], totals: [], lastEvaluated: [], apps: [], countingSince: [] };
    expect(droppedCount({ ...flagView, dropped: 7 })).toBe(7);
    expect(droppedCount(flagView)).toBe(0);
  });

  it('words the applications of a key: three with their counts, the rest apart, four when four', () => {
    const apps = (n: number) => ({ apps: Array.from({ length: n }, (_, i) => ({ app: i === 0 ? null : `app-${i}`, count: 1000 * (n - i), lastEvaluatedAt: at })) });
    expect(keyApps(apps(5))).toEqual({ shown: ['No application named 5,000', 'app-1 4,000', 'app-2 3,000'], rest: ['app-3 2,000', 'app-4 1,000'] });
    expect(keyApps(apps(4))).toEqual({ shown: ['No application named 4,000', 'app-1 3,000', 'app-2 2,000', 'app-3 1,000'], rest: [] });
    expect(keyApps({})).toEqual({ shown: [], rest: [] });
  });

  it('reads the evaluations dropped by the caps, 0 for an older server or a bad value', () => {
    expect(droppedCount({ ...PROJECT, dropped: 12 })).toBe(12);
    expect(droppedCount(PROJECT)).toBe(0);
    const { dropped: _dropped, ...older } = PROJECT;
    expect(droppedCount(older as ProjectEvaluationsView)).toBe(0);
    expect(droppedCount({ ...PROJECT, dropped: Number.NaN })).toBe(0);
  });
});
