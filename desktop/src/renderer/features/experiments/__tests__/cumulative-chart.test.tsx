import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExperimentResultsView } from '@xp/shared';
import { BreakdownTable } from '../breakdown-table.js';
import { bandKey, CumulativeChart, cumulativeSeries, defaultInterval } from '../cumulative-chart.js';

afterEach(cleanup);

const HOUR = 3_600_000;

function results(points: ExperimentResultsView['timeSeries']['points'], interval = 'hour'): ExperimentResultsView {
  const comparison = { effect: 0.1, difference: 'absolute' as const, ci: [0.05, 0.15] as [number, number], se: 0.02, pValue: 0.01, adjustedPValue: 0.01, method: 'welch', significant: true, cuped: null, chanceToWin: 0.99, risk: { control: 0, treatment: 0 }, credibleInterval: [0.05, 0.15] as [number, number], error: null };
  return {
    experiment: { key: 'checkout', name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z' },
    environment: 'production',
    computedAt: '2026-11-20T05:00:00Z',
    analysis: { alpha: 0.05, sequential: false, correction: 'holm', interval },
    units: { analysed: 200, excluded: 0 },
    variations: [
      { key: 'control', name: null, expectedShare: 1 / 3, units: 70 },
      { key: 'blue', name: null, expectedShare: 1 / 3, units: 65 },
      { key: 'green', name: null, expectedShare: 1 / 3, units: 65 },
    ],
    srm: { chiSquare: 0.1, pValue: 0.9, flagged: false, error: null },
    metrics: [
      {
        key: 'revenue',
        name: 'Revenue',
        type: 'sum',
        role: 'primary',
        higherIsBetter: true,
        cupedApplied: false,
        source: 'rollup',
        error: null,
        variations: [
          { variation: 'control', units: 70, total: 70, mean: 1, comparison: null },
          { variation: 'blue', units: 65, total: 80, mean: 1.2, comparison },
          { variation: 'green', units: 65, total: 60, mean: 0.9, comparison },
        ],
      },
    ],
    timeSeries: { interval, points },
    error: null,
  };
}

describe('default time-series interval', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');

  it('is hourly for an experiment younger than three days (or not started), daily after', () => {
    expect(defaultInterval(new Date(now - 2 * HOUR).toISOString(), now)).toBe('hour');
    expect(defaultInterval(new Date(now - 71 * HOUR).toISOString(), now)).toBe('hour');
    expect(defaultInterval(new Date(now - 73 * HOUR).toISOString(), now)).toBe('day');
    expect(defaultInterval(null, now)).toBe('hour');
    expect(defaultInterval(undefined, now)).toBe('hour');
    expect(defaultInterval('not a date', now)).toBe('hour');
  });
});

describe('cumulative series', () => {
  it('gives each treatment its effect and interval band per point, and a gap where an end is open or a point is missing', () => {
    const r = results([
      {
        bucket: '2026-11-20T00:00:00Z',
        end: '2026-11-20T01:00:00Z',
        units: { control: 10, blue: 9, green: 11 },
        metrics: [
          { metric: 'revenue', variation: 'blue', effect: 0.3, ci: [-0.2, 0.8], pValue: 0.4 },
          { metric: 'revenue', variation: 'green', effect: -0.1, ci: [null, 0.4], pValue: 0.6 },
          { metric: 'other', variation: 'blue', effect: 9, ci: [8, 10], pValue: 0 },
        ],
      },
      {
        bucket: '2026-11-20T01:00:00Z',
        end: '2026-11-20T02:00:00Z',
        units: { control: 30, blue: 28, green: 30 },
        metrics: [{ metric: 'revenue', variation: 'blue', effect: 0.2, ci: [0.05, 0.35], pValue: 0.01 }],
      },
    ]);

    const series = cumulativeSeries(r, 'revenue', (end, interval) => `${interval} ${end}`);

    expect(series?.variations).toEqual(['blue', 'green']);
    expect(series?.difference).toBe('absolute');
    expect(series?.rows).toEqual([
      { x: 'hour 2026-11-20T01:00:00Z', blue: 0.3, [bandKey('blue')]: [-0.2, 0.8], green: -0.1, [bandKey('green')]: null },
      { x: 'hour 2026-11-20T02:00:00Z', blue: 0.2, [bandKey('blue')]: [0.05, 0.35], green: null, [bandKey('green')]: null },
    ]);
    expect(cumulativeSeries(r, 'missing')).toBeUndefined();
  });

  it('says so when there is no time series yet', () => {
    render(<CumulativeChart results={results([])} metric="revenue" />);
    expect(screen.getByText(/No time series yet/)).toBeTruthy();
  });
});

describe('breakdown table', () => {
  it('heads each treatment by its name, as the rest of the results view does, and shows the corrected interval', () => {
    const named = results([]);
    const withNames: ExperimentResultsView = {
      ...named,
      variations: named.variations.map((v) => (v.key === 'blue' ? { ...v, name: 'Blue button' } : v)),
      metrics: named.metrics.map((m) => ({ ...m, variations: m.variations.map((v) => (v.comparison === null ? v : { ...v, comparison: { ...v.comparison, adjustedCi: [-0.01, 0.21] as [number, number] } })) })),
    };
    render(<BreakdownTable breakdown={{ dimension: 'country', environment: 'production', values: [{ value: 'US', results: withNames }], omitted: { values: 0, units: 0 } }} metric="revenue" onChoose={() => undefined} />);

    const headers = screen.getAllByRole('columnheader').map((h) => h.textContent);
    expect(headers).toEqual(['country', 'Units', 'Blue button: effect [CI], p', 'green: effect [CI], p']);
    expect(screen.getAllByRole('cell').some((c) => c.textContent.includes('-0.01'))).toBe(true);
  });
});
