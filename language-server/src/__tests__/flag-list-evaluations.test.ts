/**
 * xp/flagList (the VS Code Flags view) carries each key's evaluation counts where the project
 * reports them, and nothing of them where it does not (an older server, no counts at all).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlagSummary } from '../protocol.js';
import { FlagListRequest } from '../protocol.js';
import { LspTestClient } from '../testing/index.js';
import type { StandInApi } from './stand-in-api.js';
import { standInApi } from './stand-in-api.js';

const FILES: Readonly<Record<string, string>> = {
  'a.ts': "client.getVariant('checkout-v2', u);\n",
  'b.ts': "client.isFeatureEnabled('new-nav', u);\n",
  'c.ts': "client.isFeatureEnabled('ghost-key', u);\n",
};

describe('xp/flagList with evaluation counts', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) {
      await c();
    }
  });

  /** The list the server answers, once it has the API's data (api.evaluations as set). */
  const listed = async (api: StandInApi): Promise<Record<string, FlagSummary['evaluations'] | 'absent'>> => {
    const root = mkdtempSync(path.join(tmpdir(), 'xp-ls-flag-list-'));
    cleanups.push(() => {
      rmSync(root, { recursive: true, force: true });
    });
    for (const [rel, text] of Object.entries(FILES)) {
      writeFileSync(path.join(root, rel), text);
    }
    const client = await LspTestClient.start(root, { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0 });
    cleanups.push(() => client.stop());
    await client.until('API data and the index', () => client.statuses.find((s) => s.source === 'api' && !s.indexing && s.references === 3));
    const { flags } = await client.connection.sendRequest(FlagListRequest);
    return Object.fromEntries(flags.map((f) => [f.key, 'evaluations' in f ? f.evaluations : 'absent']));
  };
  const api = async (): Promise<StandInApi> => {
    const a = standInApi();
    await new Promise<void>((resolve) => a.server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => a.close());
    return a;
  };

  it('gives every key its evaluations in the last 30 days when the project reports counts: total 0 for those none evaluated', async () => {
    const stand = await api();
    const last = '2026-11-25T11:57:00.000Z';
    stand.evaluations = {
      since: '2026-10-26T12:00:00.000Z',
      flags: [
        { flag: 'checkout-v2', defined: true, total: 12_345, lastEvaluatedAt: last, environments: [{ environment: 'production', count: 12_345, lastEvaluatedAt: last }], apps: [] },
        { flag: 'ghost-key', defined: false, total: 8, lastEvaluatedAt: last, environments: [{ environment: 'production', count: 8, lastEvaluatedAt: last }], apps: [] },
      ],
      apps: [],
      dropped: 0,
      undefinedOmitted: 0,
      countingSince: [{ environment: 'production', since: '2026-08-01T00:00:00.000Z' }],
    };

    expect(await listed(stand)).toEqual({
      'banner-text': { days: 30, total: 0, lastEvaluatedAt: null },
      'checkout-v2': { days: 30, total: 12_345, lastEvaluatedAt: last },
      'dark-mode': { days: 30, total: 0, lastEvaluatedAt: null },
      'ghost-key': { days: 30, total: 8, lastEvaluatedAt: last },
      'new-nav': { days: 30, total: 0, lastEvaluatedAt: null },
      'search-v3': { days: 30, total: 0, lastEvaluatedAt: null },
    });
  });

  it('gives the applications that evaluated a key where the project\'s SDKs name theirs, and none where none does', async () => {
    const last = '2026-11-25T11:57:00.000Z';
    const app = (name: string | null, count: number): { app: string | null; count: number; lastEvaluatedAt: string } => ({ app: name, count, lastEvaluatedAt: last });
    const counts = (checkoutApps: ReturnType<typeof app>[], ghostApps: ReturnType<typeof app>[]): NonNullable<StandInApi['evaluations']> => ({
      since: '2026-10-26T12:00:00.000Z',
      flags: [
        { flag: 'checkout-v2', defined: true, total: 12_345, lastEvaluatedAt: last, environments: [{ environment: 'production', count: 12_345, lastEvaluatedAt: last }], apps: checkoutApps },
        { flag: 'ghost-key', defined: false, total: 8, lastEvaluatedAt: last, environments: [{ environment: 'production', count: 8, lastEvaluatedAt: last }], apps: ghostApps },
      ],
      apps: [...checkoutApps, ...ghostApps],
      dropped: 0,
      undefinedOmitted: 0,
      countingSince: [{ environment: 'production', since: '2026-08-01T00:00:00.000Z' }],
    });
    const named = await api();
    named.evaluations = counts([app('checkout-api', 10_000), app(null, 2_345)], [app('web-shop', 8)]);
    const unnamed = await api();
    unnamed.evaluations = counts([app(null, 12_345)], [app(null, 8)]);

    const withApps = await listed(named);
    const withoutApps = await listed(unnamed);

    expect(withApps['checkout-v2']).toEqual({ days: 30, total: 12_345, lastEvaluatedAt: last, apps: [{ app: 'checkout-api', count: 10_000 }, { app: null, count: 2_345 }] });
    expect(withApps['ghost-key']).toEqual({ days: 30, total: 8, lastEvaluatedAt: last, apps: [{ app: 'web-shop', count: 8 }] });
    expect(withApps['dark-mode']).toEqual({ days: 30, total: 0, lastEvaluatedAt: null });
    expect(withoutApps['checkout-v2']).toEqual({ days: 30, total: 12_345, lastEvaluatedAt: last });
    expect(withoutApps['ghost-key']).toEqual({ days: 30, total: 8, lastEvaluatedAt: last });
  });

  it('gives a flag no SDK evaluated a total of 0 only where that says something: counting began before the window and the flag is older', async () => {
    const last = new Date(Date.now() - 60_000).toISOString();
    const flags = [{ flag: 'checkout-v2', defined: true, total: 3, lastEvaluatedAt: last, environments: [{ environment: 'production', count: 3, lastEvaluatedAt: last }], apps: [] }];
    const since = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const stand = await api();
    // Counting began 8 minutes ago (the day the SDKs were upgraded): only "not evaluated since".
    const began = new Date(Date.now() - 8 * 60_000).toISOString();
    stand.evaluations = { since, flags, apps: [], dropped: 0, undefinedOmitted: 0, countingSince: [{ environment: 'production', since: began }] };
    const upgraded = await listed(stand);
    expect(upgraded['new-nav']).toEqual({ days: 30, total: 0, lastEvaluatedAt: null, countingSince: began });
    expect(upgraded['ghost-key']).toEqual({ days: 30, total: 0, lastEvaluatedAt: null, countingSince: began });
    expect(upgraded['checkout-v2']).toEqual({ days: 30, total: 3, lastEvaluatedAt: last });

    // Counting for 40 days: flags older than the window are not evaluated in it; new-nav, created a week ago, is not told.
    const long = await api();
    long.flagCreatedAt['new-nav'] = new Date(Date.now() - 7 * 86_400_000).toISOString();
    long.evaluations = { since, flags, apps: [], dropped: 0, undefinedOmitted: 0, countingSince: [{ environment: 'production', since: new Date(Date.now() - 40 * 86_400_000).toISOString() }] };
    const counted = await listed(long);
    expect(counted['new-nav']).toBe('absent');
    expect(counted['dark-mode']).toEqual({ days: 30, total: 0, lastEvaluatedAt: null });
    // A key in code that no flag has: no age to check.
    expect(counted['ghost-key']).toEqual({ days: 30, total: 0, lastEvaluatedAt: null });

    // A server from before countingSince: no claim of absence at all.
    const older = await api();
    older.evaluations = { since, flags } as unknown as NonNullable<StandInApi['evaluations']>;
    const unknown = await listed(older);
    expect([unknown['new-nav'], unknown['dark-mode'], unknown['checkout-v2']]).toEqual(['absent', 'absent', { days: 30, total: 3, lastEvaluatedAt: last }]);
  });

  it('says nothing of evaluations from a server without counts (404), nor from a project where none arrived', async () => {
    const older = await api();
    const none = await api();
    none.evaluations = { since: '2026-10-26T12:00:00.000Z', flags: [], apps: [], dropped: 0, undefinedOmitted: 0, countingSince: [] };

    const absent = { 'banner-text': 'absent', 'checkout-v2': 'absent', 'dark-mode': 'absent', 'ghost-key': 'absent', 'new-nav': 'absent', 'search-v3': 'absent' };
    expect(await listed(older)).toEqual(absent);
    expect(await listed(none)).toEqual(absent);
  });
});
