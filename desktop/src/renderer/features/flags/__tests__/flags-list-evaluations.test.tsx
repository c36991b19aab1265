import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import type { ProjectEvaluationsView } from '../evaluations-model.js';
import FlagsList from '../flags-list.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();

/** Created 100 days ago: old enough to be judged. */
const old = (key: string, archived = false) => storedOf(booleanFlag(key), { at: ago(100 * DAY), archived });
const FLAGS = [old('checkout'), old('old-banner'), old('unused'), storedOf(booleanFlag('brand-new'), { at: ago(2 * DAY) })];

const counted = (flag: string, defined: boolean, count: number, at: string, apps: ProjectEvaluationsView['apps'] = [{ app: null, count, lastEvaluatedAt: at }]) => ({ flag, defined, total: count, lastEvaluatedAt: at, environments: [{ environment: 'development', count, lastEvaluatedAt: at }], apps });
const EVALUATIONS: ProjectEvaluationsView = {
  since: ago(90 * DAY),
  flags: [counted('checkout', true, 1500, ago(3 * MINUTE)), counted('deleted-flag', false, 12_345, ago(2 * 60 * MINUTE), [
      { app: 'checkout-api', count: 12_000, lastEvaluatedAt: ago(2 * 60 * MINUTE) },
      { app: null, count: 345, lastEvaluatedAt: ago(3 * 60 * MINUTE) },
    ]), counted('old-banner', true, 7, ago(45 * DAY))],
  apps: [{ app: null, count: 13_852, lastEvaluatedAt: ago(3 * MINUTE) }],
  dropped: 0,
  undefinedOmitted: 0,
  // Counts have arrived from development for longer than the 90 days kept.
  countingSince: [{ environment: 'development', since: ago(90 * DAY - 30 * MINUTE) }],
};

function listApi(evaluations: ProjectEvaluationsView): ReturnType<typeof fakeApi> {
  return fakeApi((req) => {
    if (req.method !== 'GET') {
      return undefined;
    }
    if (req.path.startsWith('/api/v1/projects/web/flag-evaluations')) {
      return { status: 200, body: evaluations };
    }
    return { status: 200, body: req.path.includes('/code-refs/') ? { flags: [] } : { items: FLAGS } };
  });
}

const row = (key: string): HTMLElement => screen.getByText(key, { selector: 'td code' }).closest('tr')!;
const columnOf = (name: string): number => within(screen.getByRole('table', { name: 'Flags' })).getAllByRole('columnheader').findIndex((h) => h.textContent === name);
const cell = (key: string, column: string): HTMLElement => within(row(key)).getAllByRole('cell')[columnOf(column)]!;
const keysShown = (): string[] => within(screen.getByRole('table', { name: 'Flags' })).getAllByRole('row').slice(1).map((r) => r.querySelector('td code')?.textContent ?? '');
const badges = (key: string): string[] => within(row(key)).queryAllByRole('button', { name: /not evaluated/ }).map((b) => b.textContent);

describe('flags list evaluation counts', () => {
  it('shows when each flag was last evaluated, sorts by it, and marks the flags not evaluated in 30 days', async () => {
    const u = userEvent.setup();
    const { client, sent } = listApi(EVALUATIONS);
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    await waitFor(() => { expect(cell('checkout', 'Last evaluated').textContent).toBe('3 minutes ago'); });
    expect(cell('old-banner', 'Last evaluated').textContent).toBe('45 days ago');
    expect(cell('unused', 'Last evaluated').textContent).toBe('not in 90 days');
    expect(sent.filter((r) => r.path.includes('flag-evaluations')).map((r) => r.path)).toEqual(['/api/v1/projects/web/flag-evaluations?days=90&limit=200']);

    // Older than 30 days and not evaluated in the last 30: the hint to remove it; a two-day-old flag is not judged.
    expect(badges('checkout')).toEqual([]);
    expect(badges('old-banner')).toEqual(['not evaluated in 30 days']);
    expect(badges('unused')).toEqual(['not evaluated in 30 days']);
    expect(badges('brand-new')).toEqual([]);

    await u.selectOptions(screen.getByRole('combobox', { name: 'Sort by' }), 'lastEvaluated');
    expect(keysShown()).toEqual(['brand-new', 'unused', 'old-banner', 'checkout']);
  });

  it('lists the keys evaluated but not defined, and creates a flag with one\'s key', async () => {
    const u = userEvent.setup();
    const { client } = listApi(EVALUATIONS);
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    const table = await screen.findByRole('table', { name: 'Evaluated but not defined' });
    expect(within(table).getAllByRole('row').slice(1).map((r) => Array.from(r.querySelectorAll('th, td'), (c) => c.textContent))).toEqual([['deleted-flag', '12,345', 'Development 12,345', 'checkout-api 12,000, No application named 345', '2 hours ago', 'Create flag']]);

    await u.click(within(table).getByRole('button', { name: 'Create flag deleted-flag' }));
    const dialog = screen.getByRole('dialog', { name: 'New flag' });
    expect(within(dialog).getByRole<HTMLInputElement>('textbox', { name: /^Key/ }).value).toBe('deleted-flag');
  });

  it('judges no flag where no counts arrive at all: no SDK sends them yet', async () => {
    const { client } = listApi({ since: ago(90 * DAY), flags: [], apps: [], dropped: 0, undefinedOmitted: 0, countingSince: [] });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    await waitFor(() => { expect(cell('unused', 'Last evaluated').textContent).toBe('no counts received'); });
    expect(screen.queryAllByRole('button', { name: /not evaluated/ })).toEqual([]);
    expect(screen.queryByRole('table', { name: 'Evaluated but not defined' })).toBeNull();
  });

  it('on upgrade day, marks no flag "not evaluated in 30 days": counting began minutes ago', async () => {
    const since = new Date(Math.floor((Date.now() - 8 * MINUTE) / (60 * MINUTE)) * 60 * MINUTE).toISOString();
    const { client } = listApi({ ...EVALUATIONS, flags: [counted('checkout', true, 1500, ago(3 * MINUTE))], countingSince: [{ environment: 'development', since }] });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    await waitFor(() => { expect(cell('checkout', 'Last evaluated').textContent).toBe('3 minutes ago'); });
    expect(cell('unused', 'Last evaluated').textContent).toMatch(/^not evaluated since counting began \(\w{3} \d{1,2}, \d{4}, \d{2}:00 UTC\)$/);
    expect(cell('old-banner', 'Last evaluated').textContent).toMatch(/^not evaluated since counting began/);
    expect(screen.queryAllByRole('button', { name: /not evaluated/ })).toEqual([]);
  });

  it('says how many evaluations were not counted when an environment passed the caps', async () => {
    const { client } = listApi({ ...EVALUATIONS, dropped: 52_000 });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    expect(await screen.findByText(/^52,000 evaluations in the last 90 days were not counted: in some hours an environment passed the limit of 2,000 distinct keys no flag has/)).toBeTruthy();
  });

  it('says nothing of evaluations not counted when none were dropped', async () => {
    const { client } = listApi(EVALUATIONS);
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    await waitFor(() => { expect(cell('checkout', 'Last evaluated').textContent).toBe('3 minutes ago'); });
    expect(screen.queryByText(/were not counted/)).toBeNull();
  });

  it('shows at most the keys asked for, and how many more a flood of keys holds', async () => {
    const flood = Array.from({ length: 1000 }, (_, i) => counted(`junk-${String(i).padStart(4, '0')}`, false, 1000 - i, ago(MINUTE)));
    const { client } = listApi({ ...EVALUATIONS, flags: [...EVALUATIONS.flags, ...flood], undefinedOmitted: 30_423 });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagsList />
      </WithSession>,
    );
    const table = await screen.findByRole('table', { name: 'Evaluated but not defined' });
    // An older server ignores `limit`: 1,001 listed, 200 shown; the rest and the 30,423 it left out are "more".
    expect(within(table).getAllByRole('row')).toHaveLength(201);
    expect(screen.getByText('and 31,224 more keys evaluated less often (only the 200 most evaluated are listed)')).toBeTruthy();
  });
});
