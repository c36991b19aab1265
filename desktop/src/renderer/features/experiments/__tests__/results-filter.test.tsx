import '../../../test/dom.js';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Experiment, ExperimentResultsView, MetricResultView, Stored, StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import { abExperiment, metricView, resultsView, storedOf } from '../../../test/fixtures.js';
import ExperimentPage, { filtersFromHash, filtersHash } from '../experiment-page.js';
import type * as ZonedTime from '../../../lib/zoned-time.js';

/** The browser's time zone as the page sees it: a test sets `zone.viewer`; unset, the process's own. */
const zone = vi.hoisted(() => ({ viewer: undefined as string | undefined }));
vi.mock('../../../lib/zoned-time.js', async (importOriginal) => {
  const actual = await importOriginal<typeof ZonedTime>();
  return { ...actual, localTimeZone: () => zone.viewer ?? actual.localTimeZone() };
});

const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: false, version: 1, position: 0 };
const beta = storedOf({ key: 'beta', name: 'Beta', type: 'ids' as const, attribute: 'id', values: ['u1'] });

beforeEach(() => {
  window.location.hash = '#/experiments/checkout';
});
afterEach(() => {
  cleanup();
  window.location.hash = '';
  zone.viewer = undefined;
});

function experiment(overrides: Partial<Experiment> = {}): Stored<Experiment> {
  return storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z', environments: ['production'], dimensions: ['country'], ...overrides }), { version: 2, at: '2026-11-20T00:00:00Z' });
}

function purchase(units: number): MetricResultView {
  return metricView('purchase', {
    name: 'Purchase',
    variations: [
      { variation: 'control', units, total: 0, mean: 0, comparison: null },
      { variation: 'treatment', units, total: 0, mean: 0, comparison: null },
    ],
  });
}

/** Results of `units` units per variation: 3,000 in all unfiltered, 1,000 with a filter. */
function results(units: number): ExperimentResultsView {
  return resultsView({
    units: { analysed: units * 2, excluded: 0 },
    variations: [
      { key: 'control', name: 'Control', expectedShare: 0.5, units },
      { key: 'treatment', name: 'Treatment', expectedShare: 0.5, units },
    ],
    srm: units === 0 ? { chiSquare: 0, pValue: 1, flagged: false, error: { code: 'INSUFFICIENT_SAMPLE', message: 'no units' } } : { chiSquare: 0, pValue: 1, flagged: false, error: null },
    metrics: [purchase(units)],
  });
}

function backend(resultsFor: (q: URLSearchParams) => ExperimentResultsView, definition: Partial<Experiment> = {}): { respond: Responder; lastResults: () => URLSearchParams } {
  const asked: URLSearchParams[] = [];
  const respond: Responder = (req) => {
    if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
      return { status: 200, body: experiment(definition) };
    }
    if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results/breakdown')) {
      return { status: 200, body: { dimension: 'country', environment: 'production', values: [], omitted: { values: 0, units: 0 } } };
    }
    if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
      const q = new URL(req.path, 'http://x').searchParams;
      asked.push(q);
      return { status: 200, body: resultsFor(q) };
    }
    if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/segments')) {
      return { status: 200, body: { items: [beta] } };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  };
  return { respond, lastResults: () => asked.at(-1) ?? new URLSearchParams() };
}

function renderPage(respond: Responder): void {
  const { client } = fakeApi(respond);
  render(
    <WithSession client={client} me={user()} environments={[PRODUCTION]}>
      <ExperimentPage experimentKey="checkout" />
    </WithSession>,
  );
}

describe('results filter banner and URL', () => {
  it('says above the results which filter narrows them and how many units it keeps, and clears it in one click', async () => {
    const u = userEvent.setup();
    const api = backend((q) => results(q.has('attr.country') || q.has('segment') ? 500 : 1500));
    renderPage(api.respond);

    await screen.findByRole('table', { name: 'Units per variation' });
    expect(screen.queryByRole('status', { name: 'Results filter' })).toBeNull();

    await u.selectOptions(screen.getByRole('combobox', { name: 'Dimension' }), 'country');
    await u.type(screen.getByRole('textbox', { name: 'country equals' }), 'US{Enter}');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Segment' }), 'beta');
    const banner = await screen.findByRole('status', { name: 'Results filter' });
    await waitFor(() => { expect(banner.textContent).toContain('Filtered: segment beta · country = US · 1,000 units.'); });
    // The URL keeps the filter, without a new history entry.
    expect(window.location.hash).toBe('#/experiments/checkout?segment=beta&attr.country=US');

    await u.click(screen.getByRole('button', { name: 'Clear filter' }));
    await waitFor(() => { expect(screen.queryByRole('status', { name: 'Results filter' })).toBeNull(); });
    expect(screen.getByRole<HTMLSelectElement>('combobox', { name: 'Segment' }).value).toBe('');
    expect(screen.getByRole<HTMLSelectElement>('combobox', { name: 'Dimension' }).value).toBe('');
    await waitFor(() => { expect([...api.lastResults().keys()].filter((k) => k === 'segment' || k.startsWith('attr.') || k === 'from' || k === 'to')).toEqual([]); });
    expect(window.location.hash).toBe('#/experiments/checkout');
  });

  it('names the unit of an account experiment in the filter banner and the metric table', async () => {
    const u = userEvent.setup();
    const api = backend((q) => results(q.has('segment') ? 500 : 1500), { hashAttribute: 'accountId' });
    renderPage(api.respond);
    await screen.findByRole('table', { name: 'Units per variation' });
    expect(screen.getByRole('table', { name: 'Purchase by variation' }).querySelectorAll('th')[1]?.textContent).toBe('Units (accountId)');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Segment' }), 'beta');
    const banner = await screen.findByRole('status', { name: 'Results filter' });
    await waitFor(() => { expect(banner.textContent).toContain('Filtered: segment beta · 1,000 units (accountId).'); });
  });

  it('opens with the filter of its URL, so a reload or a shared link shows the same subset', async () => {
    window.location.hash = '#/experiments/checkout?segment=beta&attr.country=US&from=2026-11-21&to=2026-11-22';
    const api = backend(() => results(500));
    renderPage(api.respond);

    const banner = await screen.findByRole('status', { name: 'Results filter' });
    await waitFor(() => { expect(banner.textContent).toContain('Filtered: segment beta · country = US · first exposed from 2026-11-21 through 2026-11-22 · 1,000 units.'); });
    const q = api.lastResults();
    expect([q.get('segment'), q.get('attr.country'), q.get('from'), q.get('to')]).toEqual(['beta', 'US', new Date(2026, 10, 21).toISOString(), new Date(2026, 10, 23).toISOString()]);
    expect(screen.getByRole<HTMLInputElement>('textbox', { name: 'country equals' }).value).toBe('US');
  });

  it('reads and writes the filters of a hash, ignoring malformed days', () => {
    const f = { segment: 'beta', dimension: 'plan', value: 'pro plus', fromDay: '2026-11-01', toDay: '', timeZone: 'Asia/Kolkata' };
    expect(filtersHash('check out', f)).toBe('#/experiments/check%20out?segment=beta&attr.plan=pro+plus&from=2026-11-01&tz=Asia%2FKolkata');
    expect(filtersFromHash(filtersHash('check out', f))).toEqual(f);
    // The zone only goes with days; a link without one (made before zones were pinned) reads as none.
    expect(filtersHash('checkout', { segment: '', dimension: 'plan', value: '', fromDay: '', toDay: '', timeZone: 'Asia/Kolkata' })).toBe('#/experiments/checkout');
    expect(filtersFromHash('#/experiments/checkout?from=yesterday')).toEqual({ segment: '', dimension: '', value: '', fromDay: '', toDay: '', timeZone: '' });
    expect(filtersFromHash('#/experiments/checkout?to=2026-12-04').timeZone).toBe('');
    expect(filtersFromHash('#/experiments/checkout?to=2026-12-04&tz=Mars%2FOlympus').timeZone).toBe('');
  });

});

describe('a date window that matches nothing', () => {
  it('says no exposures fall in the chosen dates, not that attributes or a segment match nobody, nor that the series will fill in', async () => {
    const api = backend((q) => results(q.has('from') ? 0 : 1500));
    renderPage(api.respond);

    await screen.findByRole('table', { name: 'Units per variation' });
    fireEvent.change(screen.getByLabelText('Exposed from'), { target: { value: '2026-12-10' } });
    fireEvent.change(screen.getByLabelText('through'), { target: { value: '2026-12-12' } });

    expect(await screen.findByText('No units were first exposed from 2026-12-10 through 2026-12-12: no exposures fall in the chosen dates. Widen the dates to see results.')).toBeTruthy();
    expect(screen.queryByText(/these attributes or this segment/)).toBeNull();
    expect(screen.queryByText(/fills in as exposures arrive/)).toBeNull();
    expect(screen.getByText('No time series: no exposures fall in the chosen dates.')).toBeTruthy();
  });
});

describe('a shared link with dates', () => {
  const NEW_YORK_DEC_4 = ['2026-12-04T05:00:00.000Z', '2026-12-05T05:00:00.000Z'];

  /** Renders the page as a viewer in `viewer` would, with results.csv answered; what the page then asks. */
  async function openAs(viewer: string, hash: string): Promise<{ lastResults: () => URLSearchParams; lastCsv: () => URLSearchParams | undefined; banner: HTMLElement }> {
    zone.viewer = viewer;
    window.location.hash = hash;
    const api = backend(() => results(500));
    const csv: URLSearchParams[] = [];
    renderPage((req) => {
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results.csv')) {
        csv.push(new URL(req.path, 'http://x').searchParams);
        return { status: 200, text: 'metric,variation\r\n', contentType: 'text/csv; charset=utf-8' };
      }
      return api.respond(req);
    });
    const banner = await screen.findByRole('status', { name: 'Results filter' });
    await waitFor(() => { expect(api.lastResults().has('from')).toBe(true); });
    return { lastResults: api.lastResults, lastCsv: () => csv.at(-1), banner };
  }

  it('shows every viewer the units of the days in the zone they were chosen in, and says which zone that is', async () => {
    for (const viewer of ['America/New_York', 'Asia/Kolkata', 'Australia/Sydney']) {
      const page = await openAs(viewer, '#/experiments/checkout?from=2026-12-04&to=2026-12-04&tz=America%2FNew_York');
      expect([page.lastResults().get('from'), page.lastResults().get('to')]).toEqual(NEW_YORK_DEC_4);
      const other = viewer !== 'America/New_York';
      await waitFor(() => { expect(page.banner.textContent).toContain(`first exposed on 2026-12-04${other ? ' (America/New_York)' : ''} · 1,000 units.`); });
      expect(screen.getByText(other ? "(days in America/New_York, the link's time zone)" : '(your time zone)')).toBeTruthy();
      expect(screen.getByLabelText('Exposed from').closest('label')?.getAttribute('title')).toBe(
        `Only the units first exposed on or after this day, from its midnight in ${other ? `the link's time zone (America/New_York), not yours (${viewer})` : 'your time zone (America/New_York)'}`,
      );
      // The link stays pinned to New York for whoever it is shared with next.
      expect(window.location.hash).toBe('#/experiments/checkout?from=2026-12-04&to=2026-12-04&tz=America%2FNew_York');
      cleanup();
    }
  });

  it('exports the CSV of the same window, named after the days', async () => {
    const u = userEvent.setup();
    const saved: string[] = [];
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:test/0', revokeObjectURL: () => undefined }));
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(this.download);
    });
    try {
      const page = await openAs('Asia/Kolkata', '#/experiments/checkout?from=2026-12-04&to=2026-12-04&tz=America%2FNew_York');
      await u.click(screen.getByRole('button', { name: 'Export CSV' }));
      await waitFor(() => { expect(saved).toEqual(['checkout-production-results-2026-12-04_2026-12-04.csv']); });
      expect([page.lastCsv()?.get('from'), page.lastCsv()?.get('to')]).toEqual(NEW_YORK_DEC_4);
    } finally {
      click.mockRestore();
    }
  });

  it("reads a link without a zone in the viewer's own, as before, and pins that zone from then on", async () => {
    const page = await openAs('Asia/Kolkata', '#/experiments/checkout?from=2026-12-04&to=2026-12-04');
    expect([page.lastResults().get('from'), page.lastResults().get('to')]).toEqual(['2026-12-03T18:30:00.000Z', '2026-12-04T18:30:00.000Z']);
    await waitFor(() => { expect(page.banner.textContent).toContain('first exposed on 2026-12-04 · 1,000 units.'); });
    expect(window.location.hash).toBe('#/experiments/checkout?from=2026-12-04&to=2026-12-04&tz=Asia%2FKolkata');
  });

  it("keeps the link's zone for days changed there, and takes the viewer's once the dates are cleared", async () => {
    const u = userEvent.setup();
    const page = await openAs('Australia/Sydney', '#/experiments/checkout?from=2026-12-04&to=2026-12-04&tz=America%2FNew_York');
    fireEvent.change(screen.getByLabelText('through'), { target: { value: '2026-12-05' } });
    await waitFor(() => { expect(page.lastResults().get('to')).toBe('2026-12-06T05:00:00.000Z'); });
    expect(page.lastResults().get('from')).toBe(NEW_YORK_DEC_4[0]);

    await u.click(screen.getByRole('button', { name: 'Clear filter' }));
    await waitFor(() => { expect(page.lastResults().has('from')).toBe(false); });
    expect(window.location.hash).toBe('#/experiments/checkout');
    fireEvent.change(screen.getByLabelText('Exposed from'), { target: { value: '2026-12-04' } });
    // Sydney (UTC+11 in December): its Dec 4 starts at 13:00 UTC on Dec 3.
    await waitFor(() => { expect(page.lastResults().get('from')).toBe('2026-12-03T13:00:00.000Z'); });
    expect(screen.getByText('(your time zone)')).toBeTruthy();
    await waitFor(() => { expect(window.location.hash).toBe('#/experiments/checkout?from=2026-12-04&tz=Australia%2FSydney'); });
  });
});
