import '../../../test/dom.js';
import { readFileSync } from 'node:fs';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { abExperiment, storedOf } from '../../../test/fixtures.js';
import ExperimentPage from '../experiment-page.js';
import ExperimentsList from '../experiments-list.js';

// The console's stylesheet, as the app loads it: jsdom computes the styles its rules give.
const style = document.createElement('style');
beforeAll(() => {
  style.textContent = readFileSync(new URL('../../../app/styles.css', import.meta.url), 'utf8');
  document.head.append(style);
});
afterAll(() => { style.remove(); });
afterEach(cleanup);

const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: false, version: 1, position: 0 };
const LONG_KEY = 't'.repeat(128);
const long = storedOf(
  abExperiment('long-values', {
    name: 'Long values',
    hypothesis: 'x'.repeat(5000),
    variations: [
      { key: 'control', weight: 0.5, value: 'control' },
      { key: LONG_KEY, weight: 0.5, value: 't' },
    ],
  }),
);

const wrap = (el: Element): string => getComputedStyle(el).overflowWrap;

describe('long values without spaces', () => {
  it('wrap the hypothesis anywhere instead of widening the page', async () => {
    const { client } = fakeApi((req) => (req.path === '/api/v1/projects/web/experiments/long-values' ? { status: 200, body: long } : { status: 200, body: { items: [] } }));
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="long-values" />
      </WithSession>,
    );

    const hypothesis = (await screen.findByText('Hypothesis:')).closest('p')!;
    expect(wrap(hypothesis)).toBe('anywhere');
    expect(wrap(screen.getByRole('region', { name: 'Split' }).querySelector('p')!)).toBe('anywhere');
  });

  it('wrap a long variation key in its cell, which counts as at most 24em, while numbers and badges stay whole', async () => {
    const running = storedOf(abExperiment('short', { name: 'Short', status: 'running', startedAt: '2026-11-20T00:00:00Z' }));
    const { client } = fakeApi(() => ({ status: 200, body: { items: [long, running] } }));
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentsList />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Experiments' });
    const variations = within(table).getByText(`control, ${LONG_KEY}`);
    expect(variations.tagName).toBe('TD');
    expect(wrap(variations)).toBe('anywhere');
    expect(getComputedStyle(variations).maxWidth).toBe('24em');
    const badge = within(table).getByText('running');
    expect(wrap(badge)).toBe('normal');
    expect(getComputedStyle(badge).whiteSpace).toBe('nowrap');

    // Numbers in any table keep their digits together.
    const numbers = document.createElement('td');
    numbers.className = 'num';
    table.querySelector('tr')!.append(numbers);
    expect(wrap(numbers)).toBe('normal');
  });
});

describe('results tables in a narrow window', () => {
  it('wrap headings and variation names between words only, keep figures on one line, and scroll sideways instead', async () => {
    const experiment = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z', environments: ['production'], dimensions: ['country'] }));
    const metric = {
      key: 'purchase', name: 'Purchase', type: 'conversion', role: 'primary', guardrail: false, higherIsBetter: true, cupedApplied: false, cupedStatus: 'no-pre-exposure-data', source: 'rollup', error: null,
      variations: [
        { variation: 'control', units: 100, total: 10, mean: 0.1, comparison: null },
        {
          variation: 'treatment', units: 100, total: 12, mean: 0.12,
          comparison: { effect: 0.2, difference: 'relative', ci: [-0.192, 0.23], se: 0.01, pValue: 0.4, adjustedPValue: 0.4, method: 'welch', significant: false, cuped: null, chanceToWin: 0.6, risk: { control: 0.02, treatment: 0.0326 }, credibleInterval: [-0.192, 0.23], error: null },
        },
      ],
    };
    const results = {
      experiment: { key: 'checkout', name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z' },
      environment: 'production', computedAt: '2026-11-25T12:00:00Z',
      analysis: { alpha: 0.05, sequential: false, correction: 'holm', interval: 'day' },
      units: { analysed: 200, excluded: 0 },
      variations: [{ key: 'control', name: 'Control', expectedShare: 0.5, units: 100 }, { key: 'treatment', name: 'Treatment', expectedShare: 0.5, units: 100 }],
      srm: { chiSquare: 0, pValue: 1, flagged: false, error: null },
      metrics: [metric], timeSeries: { interval: 'day', points: [] }, error: null,
    };
    const { client } = fakeApi((req) => {
      if (req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: experiment };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results/breakdown')) {
        return { status: 200, body: { dimension: 'country', environment: 'production', values: [{ value: 'US', results }], omitted: { values: 0, units: 0 } } };
      }
      return req.path.startsWith('/api/v1/projects/web/experiments/checkout/results') ? { status: 200, body: results } : { status: 200, body: { items: [] } };
    });
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    const units = await screen.findByRole('table', { name: 'Units per variation' });
    const card = await screen.findByRole('table', { name: 'Purchase by variation' });
    for (const table of [units, card]) {
      expect(wrap(within(table).getByRole('columnheader', { name: 'Variation' }))).toBe('break-word');
      expect(wrap(within(table).getAllByRole('row')[1]!.querySelector('td')!)).toBe('break-word');
    }
    // The units table scrolls in its own box; the metric card already does.
    expect(units.closest('.scroll-region')).not.toBeNull();
    expect(getComputedStyle(card.closest('.metric-card')!).overflowX).toBe('auto');
    const interval = within(card).getByText('[-19.2%, +23.0%]');
    expect(getComputedStyle(interval).whiteSpace).toBe('nowrap');
    expect(getComputedStyle(within(card).getByText(/^risk /).closest('td')!).whiteSpace).toBe('nowrap');

    const u = userEvent.setup();
    await u.selectOptions(screen.getByRole('combobox', { name: 'Dimension' }), 'country');
    const breakdown = await screen.findByRole('table', { name: 'Purchase by country' });
    expect(wrap(within(breakdown).getAllByRole('columnheader')[0]!)).toBe('break-word');
  });
});
