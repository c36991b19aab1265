import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ENVIRONMENTS, WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { SentRequest } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import type { FlagEvaluationsView, ProjectEvaluationsView } from '../evaluations-model.js';
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

/** The API's answer for the range asked: a count in production's current bucket, and one served by default. */
function answer(req: SentRequest): FlagEvaluationsView {
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
  };
}

function editorApi(project: ProjectEvaluationsView): ReturnType<typeof fakeApi> {
  return fakeApi((req) => {
    if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
      return { status: 200, body: storedOf(booleanFlag('checkout'), { version: 3 }) };
    }
    if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/flags/checkout/evaluations')) {
      return { status: 200, body: answer(req) };
    }
    if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/flag-evaluations')) {
      return { status: 200, body: project };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
}

const PROJECT: ProjectEvaluationsView = { since: ago(90 * 24 * 60 * MINUTE), flags: [{ flag: 'checkout', defined: true, total: 1500, lastEvaluatedAt: ago(3 * MINUTE), environments: [{ environment: 'production', count: 1500, lastEvaluatedAt: ago(3 * MINUTE) }] }] };

describe('the flag page\'s evaluations', () => {
  it('opens on production over 7 days, with totals, shares and when last evaluated, and asks again for another range', async () => {
    const u = userEvent.setup();
    const { client, sent } = editorApi(PROJECT);
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
    const first = asked()[0]!;
    expect(Date.parse(first.searchParams.get('to')!) - Date.parse(first.searchParams.get('from')!)).toBe(7 * 24 * 60 * MINUTE);

    await u.selectOptions(screen.getByRole('combobox', { name: 'Evaluations range' }), '24h');
    await screen.findByRole('figure', { name: 'Evaluations of checkout in Production, last 24 hours, per hour by served variation' });
    expect(asked().at(-1)?.searchParams.get('interval')).toBe('hour');

    // Another environment: nothing counted there, and no SDK sends counts from it.
    await u.selectOptions(screen.getByRole('combobox', { name: 'Evaluations environment' }), 'staging');
    expect(await screen.findByText(/^No evaluation counts received in Staging\. SDKs send them from their 2026-12 releases on/)).toBeTruthy();
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
        return { status: 200, body: { since: ago(90 * 24 * 60 * MINUTE), flags: [] } };
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
});
