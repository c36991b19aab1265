/**
 * `xp code-refs` and `xp flags usage` with flag evaluation counts, against the real local API over
 * HTTP: `evaluations` records posted with an SDK key go through kinesalite and the local poller, and
 * the CLI says which referenced flags no SDK evaluated and which unknown keys SDKs still ask for —
 * and says nothing of either while the project has no counts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoller, kinesisShardReader } from '../../pipeline/poller.js';
import type { Poller } from '../../pipeline/poller.js';
import { quickSleep, until } from '../../pipeline/__tests__/kinesis-helpers.js';
import { booleanFlagBody, mustAs } from '../../http/__tests__/harness.js';
import type { SdkPlatform } from '../../http/sdk/__tests__/sdk-fixture.js';
import { STREAM, startSdkPlatform } from '../../http/sdk/__tests__/sdk-fixture.js';
import { runXp, serveApi } from './cli-over-http.js';

const FLAGS = '/api/v1/projects/demo/flags';

describe('evaluation counts in xp code-refs and xp flags usage', () => {
  let s: SdkPlatform;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let env: NodeJS.ProcessEnv;
  let poller: Poller;
  let dir: string;
  let now: number;

  beforeAll(async () => {
    s = await startSdkPlatform();
    api = await serveApi(s.p);
    env = { XP_API_URL: api.url, XP_TOKEN: s.owner };
    poller = createPoller({ db: s.p.db, reader: kinesisShardReader(s.kinesis), streamName: STREAM, sleep: quickSleep });
    poller.start();
    now = s.p.now.value.getTime();
    // Permanent flags (temporary ones unchanged this long would be stale too), created long before
    // the windows asked about: the database sets created_at, so the test moves it back.
    const old = ['old-used', 'old-unused', 'old-staging-only'];
    for (const key of old) {
      await mustAs(s.p, s.owner, 'POST', FLAGS, { ...booleanFlagBody(key), temporary: false });
    }
    await s.p.db.query('UPDATE flags SET created_at = $1 WHERE key = ANY($2)', [new Date(now - 100 * 86_400_000).toISOString(), old]);
    // Created now: it may not be deployed yet, so never called not evaluated.
    await mustAs(s.p, s.owner, 'POST', FLAGS, { ...booleanFlagBody('new-unused'), temporary: false });
    await s.p.db.query("UPDATE flags SET created_at = $1 WHERE key = 'new-unused'", [new Date(now - 86_400_000).toISOString()]);
    dir = mkdtempSync(path.join(tmpdir(), 'xp-code-refs-usage-'));
    writeFileSync(
      path.join(dir, 'app.ts'),
      ['old-used', 'old-unused', 'old-unused', 'old-staging-only', 'new-unused', 'ghost-flag', 'typo-flag'].map((k) => `client.getVariant('${k}', user);`).join('\n'),
    );
  }, 60_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await poller.stop();
    await api.close();
    await s.close();
  });

  const upload = (extra: string[] = []): Promise<{ code: number; out: string[]; err: string[] }> =>
    runXp(['code-refs', '--repo', 'acme/app', '--branch', 'main', '--project', 'demo', '--dir', dir, ...extra], env);
  /** Posts one `evaluations` record per environment and waits until the poller counted them. */
  const evaluate = async (byEnvironment: Record<string, { flag: string; variation: string | null; count: number }[]>): Promise<void> => {
    const before = poller.stats().processed;
    for (const [environment, counts] of Object.entries(byEnvironment)) {
      const key = s.p.boot.sdkKeys![environment]!.server;
      const record = { type: 'evaluations', id: `ev_${randomUUID().replaceAll('-', '')}`, start: now - 70_000, timestamp: now - 10_000, counts };
      const res = await s.p.request('POST', '/sdk/v1/events', { body: { events: [record] }, headers: { 'X-XP-SDK-Key': key } });
      expect(res.status).toBe(202);
    }
    const n = Object.keys(byEnvironment).length;
    await until(() => Promise.resolve(poller.stats().processed >= before + n), `${n} records aggregated`);
  };

  const usage = (extra: string[] = []): Promise<{ code: number; out: string[]; err: string[] }> => runXp(['flags', 'usage', '--project', 'demo', ...extra], env);

  it('says nothing of evaluations while no SDK of the project reports counts', async () => {
    const informative = await upload();
    const table = await usage();
    const unused = await usage(['--unused']);
    const json = await usage(['--json']);

    expect(informative.code).toBe(0);
    expect(informative.out.slice(2)).toEqual(["Keys that are neither flags nor experiments of demo (a typo, or another project's):", '  ghost-flag (1 reference)', '  typo-flag (1 reference)']);
    // No flag is called unused: the table, --unused and --json say there are no counts, and list nothing.
    expect(table).toEqual({ code: 0, out: ['no SDK of this project reports evaluation counts yet; see docs/sdk-js.md#evaluation-counts'], err: [] });
    expect(unused).toEqual(table);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out.join('\n'))).toMatchObject({ project: 'demo', days: 30, reportsCounts: false, lastCountsAt: null, flags: [] });
  });

  it('names the referenced flags no SDK evaluated and the unknown keys SDKs still ask for, apart from those nobody evaluates', async () => {
    await evaluate({
      development: [
        { flag: 'old-used', variation: 'on', count: 1200 },
        { flag: 'ghost-flag', variation: null, count: 7 },
      ],
      staging: [
        { flag: 'old-staging-only', variation: 'off', count: 3 },
        { flag: 'ghost-flag', variation: null, count: 1 },
      ],
    });
    const minute = (t: number): string => new Date(t).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
    const began = minute(Math.floor((now - 10_000) / 3_600_000) * 3_600_000);

    // Upgrade day: the counts began minutes ago, so no flag is called unused, only "not evaluated since".
    const early = await upload();
    const earlyUnused = await usage(['--unused']);
    const earlyTable = await usage();
    expect(early.out.slice(2)).toEqual([
      `Flags the code references that no SDK evaluated since evaluation counting began on ${began}, less than 30 days ago (too soon to call them unused):`,
      '  new-unused (1 reference)',
      '  old-unused (2 references)',
      'Keys that are neither flags nor experiments of demo, yet SDKs evaluated them in the last 30 days (code running somewhere asks for a flag that does not exist and gets its default: a bug):',
      `  ghost-flag (1 reference): evaluated 8 times (development 7 · staging 1), last ${minute(now - 10_000)}`,
      `Keys that are neither flags nor experiments of demo, and no SDK evaluated them since evaluation counting began on ${began} (a typo, or another project's):`,
      '  typo-flag (1 reference)',
    ]);
    expect(earlyUnused).toEqual({ code: 0, out: [`Evaluation counting began on ${began}, less than 30 days before now: too soon to call any flag unused (1 flag not evaluated since).`], err: [] });
    expect(earlyTable.out).toContain('old-unused                  0        0           -  -                     not evaluated since counting began');
    expect(earlyTable.out.at(-1)).toBe(`Evaluation counting began on ${began}, within the window: "not evaluated since counting began" is all that can be said of a flag none evaluated.`);

    // Counting began 40 days ago in both environments (a key evaluated then, outside the window).
    const demo = (await s.p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    const longAgo = new Date(Math.floor((now - 40 * 86_400_000) / 3_600_000) * 3_600_000);
    await s.p.db.query(
      `INSERT INTO flag_evaluations (project_id, environment, flag_key, variation, hour, count, last_at)
       VALUES ($1, 'development', 'older-key', 'on', $2, 1, $2), ($1, 'staging', 'older-key', 'on', $2, 1, $2)`,
      [demo, longAgo.toISOString()],
    );

    const report = await upload();
    const failing = await upload(['--fail-on-unknown']);

    expect(report.code).toBe(0);
    expect(report.out.slice(2)).toEqual([
      'Flags the code references that no SDK evaluated in the last 30 days, in any environment (code never reached, or not deployed): candidates for removal',
      '  old-unused (2 references)',
      'Keys that are neither flags nor experiments of demo, yet SDKs evaluated them in the last 30 days (code running somewhere asks for a flag that does not exist and gets its default: a bug):',
      `  ghost-flag (1 reference): evaluated 8 times (development 7 · staging 1), last ${new Date(now - 10_000).toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      "Keys that are neither flags nor experiments of demo, and no SDK evaluated them in the last 30 days (a typo, or another project's):",
      '  typo-flag (1 reference)',
    ]);
    // Evaluated unknown keys are unknown all the same: both fail the upload.
    expect(failing.code).toBe(3);
    expect(failing.out.at(-1)).toBe('Failing (--fail-on-unknown, exit code 3): the code references 2 keys demo has neither as a flag nor as an experiment (deleted, never created or mistyped).');
  });

  it('counts over --stale-days, up to the 90 days kept', async () => {
    const week = await upload(['--stale-days', '7']);
    const long = await upload(['--stale-days', '365']);

    expect(week.out[2]).toBe('Flags the code references that no SDK evaluated in the last 7 days, in any environment (code never reached, or not deployed): candidates for removal');
    // new-unused was created today: not yet a candidate whatever the window.
    expect(week.out[3]).toBe('  old-unused (2 references)');
    // Counting began 40 days ago: over 90 days only "not evaluated since" can be said.
    const began = new Date(Math.floor((now - 40 * 86_400_000) / 3_600_000) * 3_600_000).toISOString().slice(0, 16).replace('T', ' ');
    expect(long.out[2]).toBe(`Flags the code references that no SDK evaluated since evaluation counting began on ${began} UTC, less than 90 days (the counts kept) ago (too soon to call them unused):`);
  });

  it('xp flags usage: every flag with its evaluations per environment, the flags not evaluated and the keys evaluated that no flag has', async () => {
    const table = await usage();
    const unused = await usage(['--unused']);
    const staging = await usage(['--environment', 'staging', '--json']);
    const production = await usage(['--env', 'production']);
    const badDays = await usage(['--days', '91']);
    const last = new Date(now - 10_000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

    expect(table.code).toBe(0);
    expect(table.out).toEqual([
      "Evaluations of demo's flags in the last 30 days (since 2026-10-26 12:00 UTC):",
      'FLAG              DEVELOPMENT  STAGING  PRODUCTION  LAST EVALUATED',
      'button-color                0        0           -  -                     new, not evaluated yet',
      `ghost-flag                  7        1           -  ${last}  not defined`,
      'new-checkout                0        0           -  -                     new, not evaluated yet',
      'new-unused                  0        0           -  -                     new, not evaluated yet',
      `old-staging-only            0        3           -  ${last}`,
      'old-unused                  0        0           -  -                     not evaluated',
      `old-used                1,200        0           -  ${last}`,
      '-: no SDK reported counts from production in the window, so nothing is known of the flags there.',
    ]);
    // Only flags older than the window that nothing evaluated; exit code 0 (CI reads the list).
    expect(unused).toEqual({ code: 0, out: ['Flags of demo no SDK evaluated in the last 30 days (since 2026-10-26 12:00 UTC):', 'old-unused'], err: [] });
    const inStaging = JSON.parse(staging.out.join('\n')) as { reportsCounts: boolean; flags: { key: string; status: string; total: number; environments: Record<string, number> }[] };
    expect(inStaging.reportsCounts).toBe(true);
    expect(inStaging.flags.filter((f) => f.status !== 'new').map((f) => [f.key, f.status, f.total, f.environments])).toEqual([
      ['ghost-flag', 'not-defined', 1, { staging: 1 }],
      ['old-staging-only', 'evaluated', 3, { staging: 3 }],
      ['old-unused', 'not-evaluated', 0, { staging: 0 }],
      ['old-used', 'not-evaluated', 0, { staging: 0 }],
    ]);
    // An environment no SDK reports counts from: said, and nothing listed.
    expect(production).toEqual({ code: 0, out: ['no SDK of this project reports evaluation counts from production yet; see docs/sdk-js.md#evaluation-counts'], err: [] });
    expect(badDays).toEqual({ code: 1, out: [], err: ['error: --days must be a whole number of days from 1 to 90 (the counts kept), not "91"'] });
  });

  it('xp flags usage: an archived flag shows only while SDKs still evaluate it', async () => {
    for (const key of ['old-staging-only', 'old-unused']) {
      await mustAs(s.p, s.owner, 'PUT', `${FLAGS}/${key}`, { ...booleanFlagBody(key), temporary: false, archived: true }, 1);
    }

    const rows = JSON.parse((await usage(['--json'])).out.join('\n')) as { flags: { key: string; status: string }[] };

    expect(rows.flags.map((f) => `${f.key} ${f.status}`)).toEqual(['button-color new', 'ghost-flag not-defined', 'new-checkout new', 'new-unused new', 'old-staging-only archived', 'old-used evaluated']);
  });

  it('xp flags usage: the applications that evaluated each flag (APPS, --json), and --app for one application\'s counts', async () => {
    // SDKs naming their application (appName): one record per application, as each service sends its own.
    const before = poller.stats().processed;
    const key = s.p.boot.sdkKeys!.development!.server;
    const byApp: [string, { flag: string; variation: string | null; count: number }[]][] = [
      ['checkout-api', [{ flag: 'old-used', variation: 'on', count: 30 }]],
      [
        'web-shop',
        [
          { flag: 'old-used', variation: 'on', count: 20 },
          { flag: 'ghost-flag', variation: null, count: 4 },
        ],
      ],
    ];
    for (const [app, counts] of byApp) {
      const record = { type: 'evaluations', id: `ev_${randomUUID().replaceAll('-', '')}`, start: now - 70_000, timestamp: now - 10_000, app, counts };
      expect((await s.p.request('POST', '/sdk/v1/events', { body: { events: [record] }, headers: { 'X-XP-SDK-Key': key } })).status).toBe(202);
    }
    await until(() => Promise.resolve(poller.stats().processed >= before + byApp.length), 'the records of two applications aggregated');

    const table = await usage();
    const json = JSON.parse((await usage(['--json'])).out.join('\n')) as { apps: { app: string | null; count: number }[]; dropped: number; flags: { key: string; total: number; apps: { app: string | null; count: number }[] }[] };
    const webShop = await usage(['--app', 'web-shop', '--json']);
    const webShopTable = await usage(['--app', 'web-shop']);
    const nobody = await usage(['--app', 'nobody-here']);

    expect(table.out[1]).toMatch(/^FLAG +DEVELOPMENT +STAGING +PRODUCTION +LAST EVALUATED +APPS$/);
    expect(table.out.find((l) => l.startsWith('old-used'))).toMatch(/ {2}no app named, checkout-api, web-shop$/);
    expect(table.out.find((l) => l.startsWith('ghost-flag'))).toMatch(/ {2}no app named, web-shop +not defined$/);
    expect(table.err).toEqual([]);
    const appsOf = (k: string): [string | null, number][] | undefined => json.flags.find((f) => f.key === k)?.apps.map((a) => [a.app, a.count]);
    expect(appsOf('old-used')).toEqual([
      [null, 1200],
      ['checkout-api', 30],
      ['web-shop', 20],
    ]);
    expect(appsOf('ghost-flag')).toEqual([
      [null, 8],
      ['web-shop', 4],
    ]);
    // Over all keys, most evaluated first: those named none include the earlier tests' 1,200 + 8 + 3.
    expect(json.apps.map((a) => [a.app, a.count])).toEqual([
      [null, 1211],
      ['checkout-api', 30],
      ['web-shop', 24],
    ]);
    expect(json.dropped).toBe(0);
    // One application's counts only.
    const only = JSON.parse(webShop.out.join('\n')) as { app: string; flags: { key: string; status: string; total: number }[] };
    expect(only.app).toBe('web-shop');
    expect(only.flags.filter((f) => f.total > 0).map((f) => [f.key, f.status, f.total])).toEqual([
      ['ghost-flag', 'not-defined', 4],
      ['old-used', 'evaluated', 20],
    ]);
    expect(webShopTable.out[0]).toMatch(/^Evaluations of demo's flags by application web-shop in the last 30 days/);
    expect(webShopTable.out[1]).not.toContain('APPS');
    expect(webShopTable.out).toContain('-: no SDK reported counts as application web-shop from staging, production in the window, so nothing is known of the flags there.');
    // An application never seen: no counts from it, so no flag is called unused.
    expect(nobody).toEqual({
      code: 0,
      out: ['no SDK of this project reports evaluation counts as application nobody-here yet (SDKs name their application with the appName option, app_name in Python): no flag is called unused'],
      err: [],
    });
  });

  it('xp flags usage: warns on stderr when the server did not keep some of the window\'s counts (its caps), leaving --json as it is', async () => {
    const demo = (await s.p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    const hour = new Date(Math.floor((now - 3_600_000) / 3_600_000) * 3_600_000).toISOString();
    await s.p.db.query("INSERT INTO flag_evaluation_drops (project_id, environment, hour, count) VALUES ($1, 'development', $2, 5000)", [demo, hour]);

    const json = await usage(['--json']);
    const unused = await usage(['--unused']);
    const nobody = await usage(['--app', 'nobody-here']);

    const warning = 'warning: 5,000 evaluations in the window were not counted: in some hours SDKs sent more distinct flag keys or application names than the server keeps (a client sending generated keys?); counts are low by that much, and a flag shown as not evaluated may have been evaluated';
    expect(json.code).toBe(0);
    expect(json.err).toEqual([warning]);
    expect((JSON.parse(json.out.join('\n')) as { dropped: number }).dropped).toBe(5000);
    expect(unused.err).toEqual([warning]);
    expect(nobody.err).toEqual([warning]);
    // The list CI reads is as before (every old flag was evaluated: old-unused is archived by now), on one line
    // with the newer flags none evaluated yet (new-unused, and the demo's button-color and new-checkout).
    expect(unused.out).toEqual([
      'Every flag of demo older than 30 days (1 flag) was evaluated in the last 30 days (since 2026-10-26 12:00 UTC); 3 newer flags, created within the window, were not evaluated yet: too soon to call them unused.',
    ]);
    expect((JSON.parse(json.out.join('\n')) as { flagsOlderThanWindow: number }).flagsOlderThanWindow).toBe(1);
    // An application with no counts kept may be among those the caps left out.
    expect(nobody.out).toEqual([
      'no SDK of this project reports evaluation counts as application nobody-here yet (SDKs name their application with the appName option, app_name in Python): no flag is called unused (5,000 evaluations were not counted in the window because of the caps; nobody-here may be among them)',
    ]);
  });

  it('xp flags usage: lists the keys no flag has up to --limit, most evaluated first, and says how many more (--json: undefinedOmitted)', async () => {
    await evaluate({ development: [{ flag: 'typo-flag', variation: null, count: 2 }] });

    const table = await usage(['--limit', '1']);
    const json = JSON.parse((await usage(['--limit', '1', '--json'])).out.join('\n')) as { limit: number; undefinedOmitted: number; flags: { key: string; status: string }[] };
    const all = JSON.parse((await usage(['--json'])).out.join('\n')) as { limit: number; undefinedOmitted: number; flags: { key: string; status: string }[] };

    // ghost-flag (evaluated 12 times) is listed, typo-flag (twice) is not.
    expect(table.code).toBe(0);
    expect(table.out.some((l) => l.startsWith('ghost-flag'))).toBe(true);
    expect(table.out.some((l) => l.startsWith('typo-flag'))).toBe(false);
    expect(table.out.at(-1)).toBe('… and 1 more key no flag has, evaluated less often (raise --limit, at most 5000).');
    expect([json.limit, json.undefinedOmitted, json.flags.filter((f) => f.status === 'not-defined').map((f) => f.key)]).toEqual([1, 1, ['ghost-flag']]);
    expect([all.limit, all.undefinedOmitted, all.flags.filter((f) => f.status === 'not-defined').map((f) => f.key)]).toEqual([1000, 0, ['ghost-flag', 'typo-flag']]);
  });
});
