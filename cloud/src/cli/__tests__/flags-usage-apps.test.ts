/**
 * `xp flags usage` and applications: the APPS column (top 3, then "+N"), the heading of --app, the
 * warning when the server did not keep some counts, and --app's check; the keys no flag has beyond
 * --limit, and --unused where no flag is old enough — over reports as `flagUsage` builds them from
 * the API's answer (fixtures: the pure formatting, no server).
 */
import { describe, expect, it } from 'vitest';
import type { EvaluationAppCount } from '@xp/shared';
import { appsCell, droppedWarning, usageLines } from '../flags-usage.js';
import type { UsageReport, UsageRow } from '../flags-usage.js';
import { main } from '../xp.js';

const AT = '2026-11-25T11:57:00.000Z';
const app = (name: string | null, count: number): EvaluationAppCount => ({ app: name, count, lastEvaluatedAt: AT });
const row = (key: string, total: number, apps: EvaluationAppCount[]): UsageRow => ({
  key,
  status: total > 0 ? 'evaluated' : 'not-evaluated',
  total,
  environments: { production: total },
  lastEvaluatedAt: total > 0 ? AT : null,
  apps,
});
const report = (flags: UsageRow[], over: Partial<UsageReport> = {}): UsageReport => ({
  project: 'demo',
  days: 30,
  since: '2026-10-26T12:00:00.000Z',
  environment: null,
  app: null,
  apps: flags.flatMap((f) => f.apps),
  dropped: 0,
  limit: 1000,
  undefinedOmitted: 0,
  flagsOlderThanWindow: flags.filter((f) => f.status !== 'new' && f.status !== 'not-defined').length,
  reportsCounts: true,
  lastCountsAt: null,
  environmentsWithoutCounts: [],
  countingSince: [{ environment: 'production', since: '2026-08-01T00:00:00.000Z' }],
  countingBegan: '2026-08-01T00:00:00.000Z',
  flags,
  ...over,
});

describe('xp flags usage: applications', () => {
  it('lists the top 3 applications of each flag in an APPS column, then how many more', () => {
    const lines = usageLines(
      report([
        row('new-checkout', 12_363, [app('checkout-api', 10_000), app('web-shop', 2_345), app(null, 12), app('batch-jobs', 5), app('admin', 1)]),
        row('button-color', 7, [app('web-shop', 7)]),
        row('old-banner', 0, []),
      ]),
      false,
    );

    expect(lines).toEqual([
      "Evaluations of demo's flags in the last 30 days (since 2026-10-26 12:00 UTC):",
      'FLAG          PRODUCTION  LAST EVALUATED        APPS',
      'new-checkout      12,363  2026-11-25 11:57 UTC  checkout-api, web-shop, no app named, +2',
      'button-color           7  2026-11-25 11:57 UTC  web-shop',
      'old-banner             0  -                     -                                         not evaluated',
    ]);
  });

  it('has no APPS column where no SDK names its application (every row would read "no app named"), nor from an older server', () => {
    const unnamed = usageLines(report([row('new-checkout', 5, [app(null, 5)])]), false);
    const older = usageLines(report([row('new-checkout', 5, [])], { apps: [] }), false);

    expect(unnamed[1]).toBe('FLAG          PRODUCTION  LAST EVALUATED');
    expect(older).toEqual(unnamed);
  });

  it('with --app, says whose evaluations are counted, and that other applications may evaluate what it does not', () => {
    const flags = [row('new-checkout', 10_000, [app('checkout-api', 10_000)]), row('button-color', 0, [])];
    const table = usageLines(report(flags, { app: 'checkout-api' }), false);
    const unused = usageLines(report(flags, { app: 'checkout-api' }), true);
    const none = usageLines(report([], { app: 'checkout-api', reportsCounts: false }), false);

    expect(table).toEqual([
      "Evaluations of demo's flags by application checkout-api in the last 30 days (since 2026-10-26 12:00 UTC):",
      'FLAG          PRODUCTION  LAST EVALUATED',
      'new-checkout      10,000  2026-11-25 11:57 UTC',
      'button-color           0  -                     not evaluated',
      'A flag checkout-api did not evaluate may still be evaluated by other applications, or by SDKs that name none.',
    ]);
    expect(unused).toEqual(['Flags of demo no SDK of application checkout-api evaluated in the last 30 days (since 2026-10-26 12:00 UTC):', 'button-color']);
    expect(none).toEqual([
      'no SDK of this project reports evaluation counts as application checkout-api yet (SDKs name their application with the appName option, app_name in Python): no flag is called unused',
    ]);
  });

  it('with --app, an application with no counts may be among the evaluations the caps left out: said when some were', () => {
    const none = (dropped: number, lastCountsAt: string | null = null): string[] => usageLines(report([], { app: 'ofrep-java', reportsCounts: false, dropped, lastCountsAt }), false);

    expect(none(0)[0]).not.toContain('caps');
    expect(none(31_421)).toEqual([
      'no SDK of this project reports evaluation counts as application ofrep-java yet (SDKs name their application with the appName option, app_name in Python): no flag is called unused (31,421 evaluations were not counted in the window because of the caps; ofrep-java may be among them)',
    ]);
    expect(none(1, AT)).toEqual([
      'no SDK of this project reported evaluation counts as application ofrep-java in the last 30 days (since 2026-10-26 12:00 UTC); the last arrived 2026-11-25 11:57 UTC, so its SDKs may have stopped sending them: no flag is called unused (1 evaluation was not counted in the window because of the caps; ofrep-java may be among them)',
    ]);
  });

  it('--unused calls no flag unused, nor every flag evaluated, while no flag is older than the window (with --app too)', () => {
    // Every flag created today: two evaluated (by ofrep-java), two not yet.
    const today = [row('a-flag', 5, [app('ofrep-java', 5)]), row('b-flag', 3, [app('ofrep-java', 3)]), { ...row('c-flag', 0, []), status: 'new' as const }, { ...row('d-flag', 0, []), status: 'new' as const }];

    expect(usageLines(report(today, { project: 'fleet', flagsOlderThanWindow: 0 }), true)).toEqual(['No flag of fleet is older than 30 days: too soon to call any unused.']);
    expect(usageLines(report(today, { project: 'fleet', flagsOlderThanWindow: 0, app: 'ofrep-java' }), true)).toEqual(['No flag of fleet is older than 30 days: too soon to call any unused.']);
    expect(usageLines(report(today, { project: 'fleet', flagsOlderThanWindow: 0, days: 1 }), true)).toEqual(['No flag of fleet is older than a day: too soon to call any unused.']);
    // Some older, all of them evaluated: said with how many, and the newer ones none evaluated yet on the same line.
    expect(usageLines(report(today, { project: 'fleet', flagsOlderThanWindow: 2, app: 'ofrep-java' }), true)).toEqual([
      'Every flag of fleet older than 30 days (2 flags) was evaluated by application ofrep-java in the last 30 days (since 2026-10-26 12:00 UTC); 2 newer flags, created within the window, were not evaluated by application ofrep-java yet: too soon to call them unused.',
    ]);
    expect(usageLines(report(today.slice(0, 3), { project: 'fleet', flagsOlderThanWindow: 1 }), true)).toEqual([
      'Every flag of fleet older than 30 days (1 flag) was evaluated in the last 30 days (since 2026-10-26 12:00 UTC); 1 newer flag, created within the window, was not evaluated yet: too soon to call it unused.',
    ]);
  });

  it('says how many keys no flag has the listing left out, and how to see more', () => {
    const flags = [row('new-checkout', 12, []), { ...row('ghost-flag', 9, []), status: 'not-defined' as const }];
    const lines = (over: Partial<UsageReport>): string[] => usageLines(report(flags, over), false);

    expect(lines({})).toEqual(lines({ undefinedOmitted: 0 }));
    expect(lines({}).some((l) => l.includes('more key'))).toBe(false);
    expect(lines({ undefinedOmitted: 2 }).at(-1)).toBe('… and 2 more keys no flag has, evaluated less often (raise --limit, at most 5000).');
    expect(lines({ undefinedOmitted: 1_234, limit: 4_999 }).at(-1)).toBe('… and 1,234 more keys no flag has, evaluated less often (raise --limit, at most 5000).');
    expect(lines({ undefinedOmitted: 1, limit: 5_000 }).at(-1)).toBe('… and 1 more key no flag has, evaluated less often (--limit 5000 is the most the server lists).');
    // --unused lists flags only: the keys left out change nothing there.
    expect(usageLines(report(flags, { undefinedOmitted: 2 }), true)).toEqual(usageLines(report(flags), true));
  });

  it('names applications as printable text and says "-" for a key none evaluated', () => {
    expect(appsCell([])).toBe('-');
    expect(appsCell([app('a', 3), app('b', 2), app('c', 1)])).toBe('a, b, c');
    expect(appsCell([app('a', 4), app('b', 3), app('c', 2), app('d', 1)])).toBe('a, b, c, +1');
  });

  it('warns when the server did not keep some of the window\'s counts, and only then', () => {
    expect(droppedWarning(report([], { dropped: 0 }))).toBeUndefined();
    expect(droppedWarning(report([], { dropped: 12_345 }))).toBe(
      'warning: 12,345 evaluations in the window were not counted: in some hours SDKs sent more distinct flag keys or application names than the server keeps (a client sending generated keys?); counts are low by that much, and a flag shown as not evaluated may have been evaluated',
    );
  });

  it('refuses an --app that no SDK could send, before asking the API; flags off|on take no --app', async () => {
    const run = async (argv: string[]): Promise<{ code: number; err: string[] }> => {
      const err: string[] = [];
      // Nothing listens there: a request would fail otherwise.
      const code = await main(argv, { XP_API_URL: 'http://127.0.0.1:9', XP_TOKEN: 'xpp_test' }, () => undefined, (l) => err.push(l));
      return { code, err };
    };

    expect(await run(['flags', 'usage', '--project', 'demo', '--app', 'web shop'])).toEqual({
      code: 1,
      err: ['error: --app "web shop": an application name must be 1 to 64 ASCII letters, digits, ".", "_" and "-", starting with a letter or digit (e.g. "checkout-api")'],
    });
    const toggle = await run(['flags', 'off', 'new-checkout', '--project', 'demo', '--env', 'production', '--app', 'web-shop']);
    expect(toggle.code).toBe(2);
    expect(toggle.err[0]).toContain("flags off takes no --app (those are flags usage's)");
  });

  it('refuses a --limit outside 1..5000 before asking the API; flags off|on take no --limit', async () => {
    const run = async (argv: string[]): Promise<{ code: number; err: string[] }> => {
      const err: string[] = [];
      const code = await main(argv, { XP_API_URL: 'http://127.0.0.1:9', XP_TOKEN: 'xpp_test' }, () => undefined, (l) => err.push(l));
      return { code, err };
    };

    for (const bad of ['0', '5001', '10.5', '-3', 'many', '']) {
      expect(await run(['flags', 'usage', '--project', 'demo', `--limit=${bad}`])).toEqual({
        code: 1,
        err: [`error: --limit must be a whole number of keys from 1 to 5000 (the most the server lists), not ${JSON.stringify(bad)}`],
      });
    }
    const toggle = await run(['flags', 'on', 'new-checkout', '--project', 'demo', '--env', 'production', '--limit', '10']);
    expect(toggle.code).toBe(2);
    expect(toggle.err[0]).toContain("flags on takes no --limit (those are flags usage's)");
  });
});
