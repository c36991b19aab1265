import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ENVIRONMENTS, WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { SentRequest } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import type { FlagEvaluationsView } from '../evaluations-model.js';
import FlagEditor from '../flag-editor.js';

afterEach(cleanup);

/** jsdom has no layout: a ResizeObserver reporting a box at once, so the chart's SVG renders (as chart.test.tsx). */
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

const MINUTE = 60_000;
const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();

/** The API's answer for the range asked: a count in production's current bucket, and one served by default; counts arrive from production only. */
function answer(req: SentRequest, countingSince: FlagEvaluationsView['countingSince']): FlagEvaluationsView {
  const url = new URL(req.path, 'http://localhost');
  const from = url.searchParams.get('from') ?? ago(7 * 24 * 60 * MINUTE);
  const to = url.searchParams.get('to') ?? new Date().toISOString();
  const interval = url.searchParams.get('interval') === 'hour' ? 'hour' : 'day';
  const at = ago(3 * MINUTE);
  return {
    flag: 'checkout',
    from,
    to,
    interval,
    series: [
      { at, environment: 'production', variation: 'on', count: 1200 },
      { at, environment: 'production', variation: null, count: 300 },
    ],
    totals: [
      { environment: 'production', variation: 'on', count: 1200 },
      { environment: 'production', variation: null, count: 300 },
    ],
    lastEvaluated: [{ environment: 'production', at }],
    apps: [{ app: null, count: 1500, lastEvaluatedAt: at }],
    countingSince,
  };
}

function editorApi(countingSince: FlagEvaluationsView['countingSince']): ReturnType<typeof fakeApi> {
  return fakeApi((req) => {
    if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
      return { status: 200, body: storedOf(booleanFlag('checkout'), { version: 3 }) };
    }
    if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/flags/checkout/evaluations')) {
      return { status: 200, body: answer(req, countingSince) };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
}

const DAY = 24 * 60 * MINUTE;

describe('the flag page\'s evaluations', () => {
  it('opens on production over 7 days, with totals, shares and when last evaluated, and asks again for another range', async () => {
    const u = userEvent.setup();
    const { client, sent } = editorApi([{ environment: 'production', since: ago(100 * DAY) }]);
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={DEFAULT_ENVIRONMENTS}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('tab', { name: 'Evaluations' }));
    expect(screen.getByRole<HTMLSelectElement>('combobox', { name: 'Evaluations environment' }).value).toBe('production');
    const totals = await screen.findByRole('table', { name: 'Evaluations per variation in Production' });
    expect(within(totals).getAllByRole('row').map((r) => Array.from(r.querySelectorAll('th, td'), (c) => c.textContent))).toEqual([
      ['Served', 'Evaluations', 'Share'],
      ['on', '1,200', '80.0%'],
      ['default served', '300', '20.0%'],
      ['Total', '1,500', '100.0%'],
    ]);
    expect(screen.getByRole('figure', { name: 'Evaluations of checkout in Production, last 7 days, per day by served variation' })).toBeTruthy();
    expect(within(screen.getByRole('list', { name: 'Last evaluated per environment' })).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'No evaluation counts received in Development',
      'No evaluation counts received in Staging',
      'Last evaluated 3 minutes ago in Production',
    ]);
    const asked = (): URL[] => sent.filter((r) => r.path.includes('/evaluations')).map((r) => new URL(r.path, 'http://localhost'));
    expect(asked().map((url) => [url.pathname, url.searchParams.get('interval')])).toEqual([['/api/v1/projects/web/flags/checkout/evaluations', 'day']]);
    // The flag's answer says since when counts arrive: the project's (all its keys) is not asked for.
    expect(sent.filter((r) => r.path.includes('flag-evaluations'))).toEqual([]);
    const first = asked()[0]!;
    expect(Date.parse(first.searchParams.get('to')!) - Date.parse(first.searchParams.get('from')!)).toBe(7 * 24 * 60 * MINUTE);

    await u.selectOptions(screen.getByRole('combobox', { name: 'Evaluations range' }), '24h');
    await screen.findByRole('figure', { name: 'Evaluations of checkout in Production, last 24 hours, per hour by served variation' });
    expect(asked().at(-1)?.searchParams.get('interval')).toBe('hour');

    // Another environment: nothing counted there, and no SDK sends counts from it.
    await u.selectOptions(screen.getByRole('combobox', { name: 'Evaluations environment' }), 'staging');
    expect(await screen.findByText(/^No evaluation counts received in Staging\. SDKs send them from their 2026-12 releases on/)).toBeTruthy();
  });

  it('filters on an application chosen among those seen, asking with ?app=, and keeps the others to choose', async () => {
    const u = userEvent.setup();
    const at = ago(3 * MINUTE);
    const apps = [
      { app: 'web-shop', count: 1000, lastEvaluatedAt: at },
      { app: null, count: 300, lastEvaluatedAt: at },
      { app: 'checkout-api', count: 200, lastEvaluatedAt: ago(2 * DAY) },
    ];
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: storedOf(booleanFlag('checkout'), { version: 3 }) };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/flags/checkout/evaluations')) {
        // The API's filter: the counts and the applications of the one asked for.
        const app = new URL(req.path, 'http://localhost').searchParams.get('app');
        const all = answer(req, [{ environment: 'production', since: ago(100 * DAY) }]);
        return { status: 200, body: app === null ? { ...all, apps } : { ...all, series: [], totals: [], lastEvaluated: [], apps: apps.filter((a) => a.app === app) } };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={DEFAULT_ENVIRONMENTS}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('tab', { name: 'Evaluations' }));
    const perApp = await screen.findByRole('table', { name: 'Evaluations per application' });
    expect(within(perApp).getAllByRole('row').slice(1).map((r) => r.querySelector('th')?.textContent)).toEqual(['web-shop', 'No application named', 'checkout-api']);
    const select = screen.getByRole<HTMLSelectElement>('combobox', { name: 'Evaluations application' });
    const options = (): string[] => Array.from(select.options, (o) => o.textContent);
    await waitFor(() => { expect(options()).toEqual(['All applications', 'checkout-api', 'web-shop']); });
    expect(select.value).toBe('');
    const asked = (): (string | null)[] => sent.filter((r) => r.path.includes('/evaluations')).map((r) => new URL(r.path, 'http://localhost').searchParams.get('app'));
    expect(asked()).toEqual([null]);

    await u.selectOptions(select, 'checkout-api');
    expect(await screen.findByText(/^No evaluation counted for checkout-api in Production \(last 7 days\)/)).toBeTruthy();
    expect(asked()).toEqual([null, 'checkout-api']);
    expect(within(screen.getByRole('table', { name: 'Evaluations per application' })).getAllByRole('row').slice(1).map((r) => r.querySelector('th')?.textContent)).toEqual(['checkout-api']);
    // The filtered answer names only checkout-api: the others stay to choose.
    expect(options()).toEqual(['All applications', 'checkout-api', 'web-shop']);

    await u.selectOptions(select, '');
    await screen.findByRole('table', { name: 'Evaluations per variation in Production' });
    expect(asked()).toEqual([null, 'checkout-api', null]);
  });

  it('on upgrade day, says only "not evaluated since counting began" where counts arrive for minutes', async () => {
    const u = userEvent.setup();
    const since = new Date(Math.floor((Date.now() - 8 * MINUTE) / (60 * MINUTE)) * 60 * MINUTE);
    const { client } = editorApi([{ environment: 'production', since: since.toISOString() }, { environment: 'staging', since: since.toISOString() }]);
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={DEFAULT_ENVIRONMENTS}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('tab', { name: 'Evaluations' }));
    await screen.findByRole('table', { name: 'Evaluations per variation in Production' });
    const items = within(screen.getByRole('list', { name: 'Last evaluated per environment' })).getAllByRole('listitem').map((li) => li.textContent);
    expect(items[1]).toMatch(/^Not evaluated in Staging since counting began \(\w{3} \d{1,2}, \d{4}, \d{2}:00 UTC\)$/);
    expect(items.join('\n')).not.toContain('in the last 90 days');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Evaluations environment' }), 'staging');
    expect(await screen.findByText(/^Not evaluated in Staging since counting began .*, which is less than the range \(last 7 days\)/)).toBeTruthy();
    expect(screen.queryByText(/can be removed from the code/)).toBeNull();
  });

  it('does not call the flag unused when the project has no counts at all', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: storedOf(booleanFlag('checkout'), { version: 3 }) };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/flags/checkout/evaluations')) {
        return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'flag "checkout" was never evaluated' } } };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/flag-evaluations')) {
        return { status: 200, body: { since: ago(90 * 24 * 60 * MINUTE), flags: [], apps: [], dropped: 0, undefinedOmitted: 0, countingSince: [] } };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user()} environments={DEFAULT_ENVIRONMENTS}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('tab', { name: 'Evaluations' }));
    await waitFor(() => { expect(screen.getByText(/^No evaluation counts received in Production\./).textContent).toContain('this does not mean the flag is unused'); });
    expect(screen.queryByText(/^Not evaluated/)).toBeNull();
    expect(screen.queryByRole('figure')).toBeNull();
  });

  it('offers the applications sorted as names read, case aside, and shows the dropped notice of the answer on upgrade day', async () => {
    const u = userEvent.setup();
    const at = ago(3 * MINUTE);
    const since = new Date(Math.floor((Date.now() - 8 * MINUTE) / (60 * MINUTE)) * 60 * MINUTE).toISOString();
    const apps = ['web-shop', 'Zeta-svc', 'checkout-api', 'Billing'].map((app, i) => ({ app, count: 100 - i, lastEvaluatedAt: at }));
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: storedOf(booleanFlag('checkout'), { version: 3 }) };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/flags/checkout/evaluations')) {
        return { status: 200, body: { ...answer(req, [{ environment: 'production', since }, { environment: 'staging', since }]), apps, dropped: 2_500 } };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={DEFAULT_ENVIRONMENTS}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('tab', { name: 'Evaluations' }));
    expect(await screen.findByText(/^2,500 evaluations in the last 7 days were not counted: in some hours an environment passed the limit/)).toBeTruthy();
    const select = screen.getByRole<HTMLSelectElement>('combobox', { name: 'Evaluations application' });
    await waitFor(() => { expect(Array.from(select.options, (o) => o.textContent)).toEqual(['All applications', 'Billing', 'checkout-api', 'web-shop', 'Zeta-svc']); });
    // Not evaluated in staging since counting began minutes ago: said with the evaluations not counted.
    await u.selectOptions(screen.getByRole('combobox', { name: 'Evaluations environment' }), 'staging');
    expect(await screen.findByText(/^Not evaluated in Staging since counting began .*, which is less than the range \(last 7 days\)/)).toBeTruthy();
    expect(screen.getByText(/^But 2,500 evaluations in the last 7 days were not counted .*: this flag may have been evaluated among them\.$/)).toBeTruthy();
  });
});
