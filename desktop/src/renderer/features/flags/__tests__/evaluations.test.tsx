import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEnvironment } from '@xp/shared';
import { DroppedNotice, EvaluationsPanel, UndefinedKeysPanel } from '../evaluations.js';
import type { EvaluatedKey, FlagEvaluationsView } from '../evaluations-model.js';

afterEach(cleanup);

/** jsdom has no layout: a ResizeObserver reporting a 600 × 240 box at once, so the chart's SVG renders (as chart.test.tsx). */
class FixedSizeObserver {
  constructor(private readonly callback: ResizeObserverCallback) {}
  observe(target: Element): void {
    this.callback([{ target, contentRect: { width: 600, height: 240 } } as unknown as ResizeObserverEntry], this);
  }
  unobserve(): void {}
  disconnect(): void {}
}

beforeAll(() => {
  (globalThis as { ResizeObserver?: unknown }).ResizeObserver = FixedSizeObserver;
});

const NOW = Date.parse('2026-12-07T09:30:00Z');
const ENVIRONMENTS: StoredEnvironment[] = [
  { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 },
  { key: 'staging', name: 'Staging', production: false, requireApproval: false, version: 1, position: 1 },
  { key: 'production', name: 'Production', production: true, requireApproval: true, version: 1, position: 2 },
];

const VIEW: FlagEvaluationsView = {
  flag: 'checkout-v2',
  from: '2026-12-04T09:30:00.000Z',
  to: '2026-12-07T09:30:00.000Z',
  interval: 'day',
  series: [
    { at: '2026-12-05T00:00:00.000Z', environment: 'production', variation: 'on', count: 1200 },
    { at: '2026-12-06T00:00:00.000Z', environment: 'production', variation: 'off', count: 310 },
    { at: '2026-12-06T00:00:00.000Z', environment: 'production', variation: null, count: 40 },
  ],
  totals: [
    { environment: 'production', variation: 'on', count: 1200 },
    { environment: 'production', variation: 'off', count: 310 },
    { environment: 'production', variation: null, count: 40 },
  ],
  lastEvaluated: [{ environment: 'production', at: '2026-12-07T09:27:00.000Z' }],
  apps: [
    { app: 'checkout-api', count: 1200, lastEvaluatedAt: '2026-12-07T09:27:00.000Z' },
    { app: null, count: 310, lastEvaluatedAt: '2026-12-06T21:00:00.000Z' },
    { app: 'web-shop', count: 40, lastEvaluatedAt: '2026-12-06T08:00:00.000Z' },
  ],
  // Counts from production for longer than 90 days, from staging since Nov 1; none from development.
  countingSince: [
    { environment: 'production', since: '2026-09-08T10:00:00.000Z' },
    { environment: 'staging', since: '2026-11-01T00:00:00.000Z' },
  ],
};

const key = (flag: string, defined: boolean, environment: string, count: number, at: string, apps: EvaluatedKey['apps'] = [{ app: null, count, lastEvaluatedAt: at }]): EvaluatedKey => ({ flag, defined, total: count, lastEvaluatedAt: at, environments: [{ environment, count, lastEvaluatedAt: at }], apps });
function panel(overrides: Partial<Parameters<typeof EvaluationsPanel>[0]> = {}): void {
  render(<EvaluationsPanel flagKey="checkout-v2" variations={['off', 'on']} environments={ENVIRONMENTS} environment="production" range="7d" view={VIEW} now={NOW} {...overrides} />);
}

const rowsOf = (table: HTMLElement): string[][] => within(table).getAllByRole('row').map((r) => Array.from(r.querySelectorAll('th, td'), (c) => c.textContent));

describe('a flag\'s evaluations', () => {
  it('shows the totals per variation with shares, the default served last and explained', () => {
    panel();
    expect(rowsOf(screen.getByRole('table', { name: 'Evaluations per variation in Production' }))).toEqual([
      ['Served', 'Evaluations', 'Share'],
      ['off', '310', '20.0%'],
      ['on', '1,200', '77.4%'],
      ['default served', '40', '2.6%'],
      ['Total', '1,550', '100.0%'],
    ]);
    expect(screen.getByText(/^Default served: the SDK returned the default value written in your code/)).toBeTruthy();
  });

  it('charts the counts stacked by variation, with the default served hatched, and lists them as a table', async () => {
    panel();
    const figure = screen.getByRole('figure', { name: 'Evaluations of checkout-v2 in Production, last 7 days, per day by served variation' });
    // One stack, a bar series per variation; the default served filled with the hatch pattern.
    const hatch = figure.querySelector('pattern');
    expect(hatch).not.toBeNull();
    expect(figure.querySelectorAll(`[fill="url(#${hatch!.id})"]`).length).toBeGreaterThan(0);
    expect(within(figure).getAllByText(/^(off|on|default served)$/).map((e) => e.textContent)).toEqual(['off', 'on', 'default served']);

    await userEvent.click(within(figure).getByRole('button', { name: 'Show as table' }));
    expect(rowsOf(within(figure).getByRole('table', { name: /: values$/ }))).toEqual([
      ['Period (UTC)', 'off', 'on', 'default served', 'Total'],
      ['Dec 4 – Dec 5 UTC', '0', '0', '0', '0'],
      ['Dec 5 – Dec 6 UTC', '0', '1,200', '0', '1,200'],
      ['Dec 6 – Dec 7 UTC', '310', '0', '40', '350'],
      ['Dec 7 – Dec 8 UTC', '0', '0', '0', '0'],
    ]);
    expect(figure.querySelector('.recharts-reference-area')).toBeNull();
  });

  it('marks the buckets before counting began as no data, in the chart and the table, not as zeros', async () => {
    panel({ view: { ...VIEW, countingSince: [{ environment: 'production', since: '2026-12-05T00:00:00.000Z' }] } });
    const figure = screen.getByRole('figure', { name: /^Evaluations of checkout-v2 in Production/ });
    expect(figure.querySelector('.recharts-reference-area')).not.toBeNull();
    expect(within(figure).getByText(/no data before counting began: 1 bucket\)/)).toBeTruthy();
    await userEvent.click(within(figure).getByRole('button', { name: 'Show as table' }));
    expect(rowsOf(within(figure).getByRole('table', { name: /: values$/ })).slice(1, 3)).toEqual([
      ['Dec 4 – Dec 5 UTC', 'no data (before counting began)'],
      ['Dec 5 – Dec 6 UTC', '0', '1,200', '0', '1,200'],
    ]);
  });

  it('says when it was last evaluated in each environment, and which environments receive no counts at all', () => {
    panel();
    expect(within(screen.getByRole('list', { name: 'Last evaluated per environment' })).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'No evaluation counts received in Development',
      'Not evaluated in Staging since counting began (Nov 1, 2026, 00:00 UTC)',
      'Last evaluated 3 minutes ago in Production',
    ]);
    expect(screen.getByText(/^Flags fetched only by bulk remote evaluation \(POST \/sdk\/v1\/evaluate without flags, or OFREP bulk evaluation\) are not counted/)).toBeTruthy();
  });

  it('says "in the last 90 days" only where counting began at least 90 days ago', () => {
    panel({ view: { ...VIEW, lastEvaluated: [], countingSince: [{ environment: 'production', since: '2026-09-08T10:00:00.000Z' }, { environment: 'staging', since: '2026-12-07T09:00:00.000Z' }] } });
    expect(within(screen.getByRole('list', { name: 'Last evaluated per environment' })).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'No evaluation counts received in Development',
      'Not evaluated in Staging since counting began (Dec 7, 2026, 09:00 UTC)',
      'Not evaluated in Production in the last 90 days',
    ]);
  });

  it('tells the truth when an environment has no counts at all: no SDK sends them, so nothing is known', () => {
    panel({ environment: 'development', view: { ...VIEW, countingSince: [] } });
    expect(screen.queryByRole('figure')).toBeNull();
    const empty = screen.getByText(/^No evaluation counts received in Development\./);
    expect(empty.textContent).toContain('SDKs send them from their 2026-12 releases on');
    expect(empty.textContent).toContain('this does not mean the flag is unused');
    expect(screen.queryByText(/Not evaluated in Development/)).toBeNull();
  });

  it('says the flag is not evaluated where other flags\' counts arrive, and that bulk evaluation is not counted', () => {
    panel({ environment: 'staging' });
    expect(screen.getByText(/^Not evaluated in Staging \(last 7 days\), while other flags' counts arrive from there: no SDK that sends counts asked for it\./)).toBeTruthy();
    expect(screen.queryByText(/No evaluation counts received in Staging\./)).toBeNull();
    expect(screen.getAllByText(/^Flags fetched only by bulk remote evaluation .* are not counted: a bulk answer is not a use\.$/).length).toBeGreaterThan(0);
  });

  it('shows which applications evaluated it, with shares and when last, those that named none as "No application named"', () => {
    panel();
    expect(rowsOf(screen.getByRole('table', { name: 'Evaluations per application' }))).toEqual([
      ['Application', 'Evaluations', 'Share', 'Last evaluated'],
      ['checkout-api', '1,200', '77.4%', '3 minutes ago'],
      ['No application named', '310', '20.0%', '12 hours ago'],
      ['web-shop', '40', '2.6%', '1 day ago'],
    ]);
    expect(screen.getByText(/^Which applications evaluated the flag, in all environments \(last 7 days\)/)).toBeTruthy();
  });

  it('shows the applications table even where the environment shown has no counts', () => {
    panel({ environment: 'staging' });
    expect(screen.queryByRole('table', { name: 'Evaluations per variation in Staging' })).toBeNull();
    expect(within(screen.getByRole('table', { name: 'Evaluations per application' })).getAllByRole('row')).toHaveLength(4);
  });

  it('says so when no application evaluated it, or the server does not say per application', () => {
    panel({ view: { ...VIEW, apps: [] } });
    expect(screen.queryByRole('table', { name: 'Evaluations per application' })).toBeNull();
    expect(screen.getByText('No evaluation counted in any environment.')).toBeTruthy();
    cleanup();
    const { apps: _apps, ...older } = VIEW;
    panel({ view: older as FlagEvaluationsView });
    expect(screen.getByText('No evaluation counted in any environment.')).toBeTruthy();
  });

  it('filtered on an application, names it in the chart, the totals and the last evaluations', () => {
    panel({ app: 'web-shop', view: { ...VIEW, apps: [VIEW.apps[2]!] } });
    expect(screen.getByRole('figure', { name: 'Evaluations of checkout-v2 by web-shop in Production, last 7 days, per day by served variation' })).toBeTruthy();
    expect(screen.getByRole('table', { name: 'Evaluations per variation by web-shop in Production' })).toBeTruthy();
    expect(rowsOf(screen.getByRole('table', { name: 'Evaluations per application' })).slice(1)).toEqual([['web-shop', '40', '100.0%', '1 day ago']]);
    expect(within(screen.getByRole('list', { name: 'Last evaluated per environment' })).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'Not evaluated by web-shop in Development in the counts received',
      'Not evaluated by web-shop in Staging in the counts received',
      'Last evaluated 3 minutes ago in Production by web-shop',
    ]);
  });

  it('filtered on an application with no counts, claims nothing of the flag: other applications may evaluate it', () => {
    panel({ app: 'web-shop', environment: 'staging', view: { ...VIEW, apps: [] } });
    const empty = screen.getByText(/^No evaluation counted for web-shop in Staging \(last 7 days\)\. Only SDKs configured with the application name/);
    expect(empty.textContent).toContain('name web-shop count under it; other applications may still evaluate the flag');
    expect(screen.queryByText(/can be removed from the code/)).toBeNull();
    expect(screen.queryByText(/^Not evaluated in Staging/)).toBeNull();
    expect(screen.getByText('No evaluation counted for web-shop in any environment.')).toBeTruthy();
  });

  it('says only "since counting began" when counting began within the range, with no advice to remove the flag', () => {
    panel({ environment: 'staging', view: { ...VIEW, countingSince: [{ environment: 'staging', since: '2026-12-07T09:00:00.000Z' }] } });
    const text = screen.getByText(/^Not evaluated in Staging since counting began \(Dec 7, 2026, 09:00 UTC\), which is less than the range \(last 7 days\)/).textContent;
    expect(text).toContain('not for long enough to say the flag is unused');
    expect(screen.queryByText(/can be removed from the code/)).toBeNull();
    expect(screen.queryByText(/^Not evaluated in Staging \(last 7 days\)/)).toBeNull();
  });
});

describe('a flag\'s evaluations when the server did not keep some (its caps)', () => {
  const notCounted = /were not counted/;

  it('shows the dropped notice for the range, and nothing of it when none were dropped', () => {
    panel();
    expect(screen.queryByText(notCounted)).toBeNull();
    cleanup();
    panel({ view: { ...VIEW, dropped: 31_421 } });
    expect(screen.getByText(/^31,421 evaluations in the last 7 days were not counted: in some hours an environment passed the limit of 2,000 distinct keys no flag has or 50 named applications/)).toBeTruthy();
  });

  it('adds to "not evaluated since counting began" that evaluations were not counted, the flag maybe among them', () => {
    panel({ environment: 'staging', view: { ...VIEW, dropped: 12, countingSince: [{ environment: 'staging', since: '2026-12-07T09:00:00.000Z' }] } });
    const empty = screen.getByText(/^Not evaluated in Staging since counting began \(Dec 7, 2026, 09:00 UTC\), which is less than the range/).closest<HTMLElement>('.state-empty');
    expect(empty).not.toBeNull();
    expect(within(empty!).getByText(/^But 12 evaluations in the last 7 days were not counted \(the caps on distinct keys and applications\): this flag may have been evaluated among them\.$/)).toBeTruthy();
    // The list of last evaluations says it too, under the environments not evaluated.
    expect(screen.getByText(/^12 evaluations in the last 7 days were not counted \(the caps on distinct keys and applications\): where the flag shows as not evaluated, it may have been evaluated among them\.$/)).toBeTruthy();
  });

  it('over the whole range, says "in the counts kept", that the flag may be among those not counted, and gives no advice to remove it', () => {
    panel({ environment: 'staging', view: { ...VIEW, dropped: 1 } });
    expect(screen.getByText(/^Not evaluated in Staging \(last 7 days\), while other flags' counts arrive from there: no SDK that sends counts asked for it in the counts kept\.$/)).toBeTruthy();
    expect(screen.getByText(/^But 1 evaluation in the last 7 days was not counted/)).toBeTruthy();
    expect(screen.queryByText(/can be removed from the code/)).toBeNull();
  });

  it('filtered on an application with no counts, says the application may be among those not counted', () => {
    panel({ app: 'web-shop', environment: 'staging', view: { ...VIEW, apps: [], dropped: 5_000 } });
    expect(screen.getByText(/^No evaluation counted for web-shop in Staging/)).toBeTruthy();
    expect(screen.getByText(/^But 5,000 evaluations in the last 7 days were not counted/)).toBeTruthy();
  });
});

describe('evaluated but not defined', () => {
  const keys = [key('deleted-flag', false, 'production', 12_345, '2026-12-07T08:00:00.000Z'), key('checkuot', false, 'staging', 4, '2026-12-05T09:30:00.000Z')];

  it('lists each key with its counts and when last seen, and offers to create it', async () => {
    const created: string[] = [];
    render(<UndefinedKeysPanel keys={keys} environments={ENVIRONMENTS} now={NOW} canCreate onCreate={(k) => { created.push(k); }} />);
    expect(screen.queryByText(/more keys? evaluated less often/)).toBeNull();
    expect(rowsOf(screen.getByRole('table', { name: 'Evaluated but not defined' }))).toEqual([
      ['Key', 'Evaluations', 'Per environment', 'Applications', 'Last seen', 'Actions'],
      ['deleted-flag', '12,345', 'Production 12,345', 'No application named 12,345', '1 hour ago', 'Create flag'],
      ['checkuot', '4', 'Staging 4', 'No application named 4', '2 days ago', 'Create flag'],
    ]);
    await userEvent.click(screen.getByRole('button', { name: 'Create flag checkuot' }));
    expect(created).toEqual(['checkuot']);
  });

  it('says how many more keys there are than listed', () => {
    render(<UndefinedKeysPanel keys={keys} more={31_421} environments={ENVIRONMENTS} now={NOW} canCreate={false} onCreate={() => undefined} />);
    expect(screen.getByText('and 31,421 more keys evaluated less often (only the 2 most evaluated are listed)')).toBeTruthy();
  });

  it('shows which applications ask for each key: the three most evaluated, the others behind a disclosure', async () => {
    const at = '2026-12-07T08:00:00.000Z';
    const many = key('deleted-flag', false, 'production', 1111, at, [
      { app: 'web-shop', count: 1, lastEvaluatedAt: at },
      { app: 'checkout-api', count: 1000, lastEvaluatedAt: at },
      { app: null, count: 100, lastEvaluatedAt: at },
      { app: 'batch', count: 5, lastEvaluatedAt: at },
      { app: 'admin', count: 5, lastEvaluatedAt: at },
    ]);
    const four = key('checkuot', false, 'staging', 4, at, [
      { app: 'a', count: 1, lastEvaluatedAt: at },
      { app: 'b', count: 1, lastEvaluatedAt: at },
      { app: 'c', count: 1, lastEvaluatedAt: at },
      { app: 'd', count: 1, lastEvaluatedAt: at },
    ]);
    const { apps: _apps, ...older } = key('older-server', false, 'staging', 2, at);
    render(<UndefinedKeysPanel keys={[many, four, older as EvaluatedKey]} environments={ENVIRONMENTS} now={NOW} canCreate={false} onCreate={() => undefined} />);
    const cells = screen.getAllByRole('row').slice(1).map((r) => r.querySelectorAll('td')[2]!);
    expect(cells[0]!.firstChild?.textContent).toBe('checkout-api 1,000, No application named 100, admin 5');
    const more = within(cells[0]!).getByText('2 more');
    expect(more.closest('details')?.open).toBe(false);
    await userEvent.click(more);
    expect(more.closest('details')?.open).toBe(true);
    expect(more.closest('details')?.textContent).toBe('2 morebatch 5, web-shop 1');
    // Four fit: no "1 more" hiding one.
    expect(cells[1]!.textContent).toBe('a 1, b 1, c 1, d 1');
    expect(cells[2]!.textContent).toBe('—');
  });

  it('offers no creation to who may not create flags', () => {
    render(<UndefinedKeysPanel keys={keys} environments={ENVIRONMENTS} now={NOW} canCreate={false} onCreate={() => undefined} />);
    expect(screen.queryByRole('button', { name: /^Create flag/ })).toBeNull();
  });
});

describe('evaluations not counted', () => {
  it('says how many evaluations the caps left out, and why', () => {
    render(<DroppedNotice dropped={31_421} />);
    expect(screen.getByText(/^31,421 evaluations in the last 90 days were not counted: in some hours an environment passed the limit of 2,000 distinct keys no flag has or 50 named applications \(a client sending generated keys or application names\?\)/)).toBeTruthy();
    cleanup();
    render(<DroppedNotice dropped={1} />);
    expect(screen.getByText(/^1 evaluation in the last 90 days was not counted:/)).toBeTruthy();
  });

  it('shows nothing when none were left out', () => {
    const { container } = render(<DroppedNotice dropped={0} />);
    expect(container.textContent).toBe('');
  });
});
