import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExperimentResultsView } from '@xp/shared';
import { BreakdownTable } from '../breakdown-table.js';
import { PointTooltip } from '../../charts/chart.js';
import { comparisonView, metricView, resultsView } from '../../../test/fixtures.js';
import { bandKey, bucketLabels, CumulativeChart, cumulativeSeries, defaultInterval, noteKey } from '../cumulative-chart.js';

afterEach(cleanup);

const HOUR = 3_600_000;

function results(points: ExperimentResultsView['timeSeries']['points'], interval = 'hour'): ExperimentResultsView {
  const comparison = comparisonView({ difference: 'absolute', risk: { control: 0, treatment: 0 } });
  return resultsView({
    computedAt: '2026-11-20T05:00:00Z',
    analysis: { alpha: 0.05, sequential: false, correction: 'holm', interval },
    variations: [
      { key: 'control', name: null, expectedShare: 1 / 3, units: 70 },
      { key: 'blue', name: null, expectedShare: 1 / 3, units: 65 },
      { key: 'green', name: null, expectedShare: 1 / 3, units: 65 },
    ],
    srm: { chiSquare: 0.1, pValue: 0.9, flagged: false, error: null },
    metrics: [
      metricView('revenue', {
        name: 'Revenue',
        type: 'sum',
        variations: [
          { variation: 'control', units: 70, total: 70, mean: 1, comparison: null },
          { variation: 'blue', units: 65, total: 80, mean: 1.2, comparison },
          { variation: 'green', units: 65, total: 60, mean: 0.9, comparison },
        ],
      }),
    ],
    timeSeries: { interval, points },
  });
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

    const series = cumulativeSeries(r, 'revenue', (bucket, end, interval) => ({ label: `${interval} ${bucket}`, range: `${bucket}–${end}` }));

    expect(series?.variations).toEqual(['blue', 'green']);
    expect(series?.difference).toBe('absolute');
    expect(series?.rows).toEqual([
      { x: 'hour 2026-11-20T00:00:00Z', range: '2026-11-20T00:00:00Z–2026-11-20T01:00:00Z', blue: 0.3, [bandKey('blue')]: [-0.2, 0.8], green: -0.1, [bandKey('green')]: null },
      { x: 'hour 2026-11-20T01:00:00Z', range: '2026-11-20T01:00:00Z–2026-11-20T02:00:00Z', blue: 0.2, [bandKey('blue')]: [0.05, 0.35], green: null, [bandKey('green')]: null, [noteKey('green')]: 'no comparison: not computed' },
    ]);
    expect(cumulativeSeries(r, 'missing')).toBeUndefined();
  });

  it('leaves out points whose comparison failed, instead of drawing the placeholder 0 [0, 0], and says why', () => {
    const failed = (variation: string, message: string) => ({ metric: 'revenue', variation, effect: 0, ci: [0, 0] as [number, number], pValue: 1, error: { code: 'ZERO_CONTROL_MEAN', message } });
    const r = results([
      { bucket: '2026-11-20T00:00:00Z', end: '2026-11-20T01:00:00Z', units: { control: 10, blue: 9, green: 0 }, metrics: [failed('blue', 'the control has no conversions'), failed('green', 'green has 0 units (an arm needs at least 2)')] },
      { bucket: '2026-11-20T01:00:00Z', end: '2026-11-20T02:00:00Z', units: { control: 30, blue: 28, green: 0 }, metrics: [{ metric: 'revenue', variation: 'blue', effect: 0.2, ci: [0.05, 0.35], pValue: 0.01 }, failed('green', 'green has 0 units (an arm needs at least 2)')] },
    ]);

    const series = cumulativeSeries(r, 'revenue');
    expect(series?.rows.map((row) => [row.blue, row[bandKey('blue')], row.green, row[bandKey('green')]])).toEqual([
      [null, null, null, null],
      [0.2, [0.05, 0.35], null, null],
    ]);
    expect(series?.rows[0]?.[noteKey('blue')]).toBe('no comparison: the control has no conversions');
    expect(series?.gaps).toEqual([
      { variation: 'blue', points: 1, reason: 'the control has no conversions' },
      { variation: 'green', points: 2, reason: 'green has 0 units (an arm needs at least 2)' },
    ]);

    render(<CumulativeChart results={r} metric="revenue" />);
    expect(screen.getByRole('list', { name: 'Points not drawn' }).textContent).toBe(
      'blue: no comparison at 1 of 2 points (left out of the chart): the control has no conversionsgreen: no comparison at any point (left out of the chart): green has 0 units (an arm needs at least 2)',
    );

    // The tooltip of the first point: the reason where a value would be.
    render(<PointTooltip active label="x" labelKey="range" row={series?.rows[0]} series={[{ key: 'blue', label: 'blue', color: '#000', bandKey: bandKey('blue'), noteKey: noteKey('blue') }]} formatY={String} />);
    expect(screen.getByRole('tooltip').textContent).toContain('blue: no comparison: the control has no conversions');
    expect(screen.getByRole('tooltip').textContent).not.toMatch(/0\.0|\[0, 0\]/);
  });

  it('labels each bucket by its start, in local time, and gives the whole range in the tooltip', () => {
    const at = (day: number, hour: number): string => new Date(2026, 11, day, hour).toISOString();
    const hour = bucketLabels(at(3, 2), at(3, 3), 'hour');
    expect(hour.label).toMatch(/02:00/);
    expect(hour.label).not.toMatch(/03:00/);
    expect(hour.range).toMatch(/02:00.*–.*03:00/);

    expect(bucketLabels(at(3, 0), at(4, 0), 'day')).toEqual({ label: new Date(2026, 11, 3).toLocaleDateString(undefined, { month: 'short', day: 'numeric' }), range: new Date(2026, 11, 3).toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) });
    // Days run from the hour the experiment started in: such a day shows its starting time.
    const day = bucketLabels(at(3, 14), at(4, 14), 'day');
    expect(day.label).toMatch(/02:00|14:00/);
    expect(day.range).toContain(' – ');

    const r = results([{ bucket: at(3, 2), end: at(3, 3), units: { control: 10, blue: 9, green: 11 }, metrics: [] }]);
    expect(cumulativeSeries(r, 'revenue')?.rows[0]).toMatchObject({ x: hour.label, range: hour.range });
  });

  it('tells the two 01:00s apart where clocks go back, in New York (Nov 1, 2026), by their zone', () => {
    const NEW_YORK = 'America/New_York';
    const hours = ['04', '05', '06', '07'].map((h, i) => ({ bucket: `2026-11-01T${h}:00:00Z`, end: `2026-11-01T0${5 + i}:00:00Z`, units: { control: 10, blue: 9, green: 11 }, metrics: [] }));
    const series = cumulativeSeries(results(hours), 'revenue', (bucket, end, interval, zoneNames) => bucketLabels(bucket, end, interval, { timeZone: NEW_YORK, zoneNames }));
    expect(series?.rows.map((r) => [r.x, r.range])).toEqual([
      ['Nov 1, 12:00 AM', 'Nov 1, 12:00 AM – 01:00 AM'],
      // The hour before clocks go back (01:00 EDT) and the one after (01:00 EST): otherwise both "01:00 AM".
      ['Nov 1, 01:00 AM EDT', 'Nov 1, 01:00 AM EDT – 01:00 AM EST'],
      ['Nov 1, 01:00 AM EST', 'Nov 1, 01:00 AM EST – 02:00 AM EST'],
      ['Nov 1, 02:00 AM', 'Nov 1, 02:00 AM – 03:00 AM'],
    ]);
    // Alone, the hour that spans the change keeps its plain label, and its range says both zones.
    expect(bucketLabels('2026-11-01T05:00:00Z', '2026-11-01T06:00:00Z', 'hour', { timeZone: NEW_YORK })).toEqual({ label: 'Nov 1, 01:00 AM', range: 'Nov 1, 01:00 AM EDT – 01:00 AM EST' });
    // The 25-hour day is still a date; a day from 02:00 PM to 02:00 PM says where the hour went.
    expect(bucketLabels('2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z', 'day', { timeZone: NEW_YORK })).toEqual({ label: 'Nov 1', range: 'Nov 1' });
    expect(bucketLabels('2026-10-31T18:00:00Z', '2026-11-01T19:00:00Z', 'day', { timeZone: NEW_YORK }).range).toBe('Oct 31, 02:00 PM EDT – Nov 1, 02:00 PM EST');
    // Kolkata has no such hour: its labels say no zone.
    expect(cumulativeSeries(results(hours), 'revenue', (bucket, end, interval, zoneNames) => bucketLabels(bucket, end, interval, { timeZone: 'Asia/Kolkata', zoneNames }))?.rows.map((r) => r.x)).toEqual([
      'Nov 1, 09:30 AM',
      'Nov 1, 10:30 AM',
      'Nov 1, 11:30 AM',
      'Nov 1, 12:30 PM',
    ]);
  });

  it('labels the chart\'s intervals as unadjusted and says the table\'s are corrected for N comparisons (F9)', () => {
    const point = { bucket: '2026-11-20T00:00:00Z', end: '2026-11-20T01:00:00Z', units: { control: 10, blue: 9, green: 11 }, metrics: [{ metric: 'revenue', variation: 'blue', effect: 0.2, ci: [0.05, 0.35] as [number, number], pValue: 0.01 }] };
    render(<CumulativeChart results={results([point])} metric="revenue" />);
    expect(screen.getByRole('figure').getAttribute('aria-label')).toBe('Cumulative effect of Revenue over time, with its unadjusted confidence interval');
    expect(screen.getByLabelText('Chart intervals').textContent).toBe(
      "The chart's intervals are not adjusted for multiple comparisons, so they are narrower than the table's, which are corrected (holm) for 2 comparisons. Judge significance by the table.",
    );
    cleanup();

    // Without a correction, chart and table agree: nothing to say.
    const uncorrected = results([point]);
    render(<CumulativeChart results={{ ...uncorrected, analysis: { ...uncorrected.analysis, correction: 'none' } }} metric="revenue" />);
    expect(screen.getByRole('figure').getAttribute('aria-label')).toBe('Cumulative effect of Revenue over time, with its confidence interval');
    expect(screen.queryByLabelText('Chart intervals')).toBeNull();
    cleanup();

    // Points that carry the adjusted interval are drawn with it.
    const withAdjusted = results([{ ...point, metrics: [{ ...point.metrics[0]!, adjustedCi: [-0.01, 0.41] }] } as unknown as ExperimentResultsView['timeSeries']['points'][number]]);
    const series = cumulativeSeries({ ...withAdjusted, metrics: withAdjusted.metrics.map((m) => ({ ...m, variations: m.variations.filter((v) => v.variation !== 'green') })) }, 'revenue');
    expect(series?.adjusted).toBe(true);
    expect(series?.rows[0]?.[bandKey('blue')]).toEqual([-0.01, 0.41]);
  });

  it('calls no interval unadjusted when no point could be compared (nothing is drawn)', () => {
    const failed = { bucket: '2026-11-20T00:00:00Z', end: '2026-11-20T01:00:00Z', units: { control: 10, blue: 9, green: 11 }, metrics: [{ metric: 'revenue', variation: 'blue', effect: 0, ci: [0, 0] as [number, number], pValue: 1, error: { code: 'ZERO_VARIANCE', message: 'no conversions in either arm' } }] };
    render(<CumulativeChart results={results([failed as unknown as ExperimentResultsView['timeSeries']['points'][number]])} metric="revenue" />);

    expect(screen.getByRole('figure').getAttribute('aria-label')).not.toContain('unadjusted');
    expect(screen.queryByLabelText('Chart intervals')).toBeNull();
  });

  it('says so when there is no time series yet', () => {
    render(<CumulativeChart results={results([])} metric="revenue" />);
    expect(screen.getByText(/No time series yet/)).toBeTruthy();
  });
});

describe('breakdown table', () => {
  it('shows a dash and the reason for a value whose comparison failed, not its placeholder numbers', () => {
    const r = results([]);
    const failed: ExperimentResultsView = {
      ...r,
      metrics: r.metrics.map((m) => ({ ...m, variations: m.variations.map((v) => (v.comparison === null ? v : { ...v, comparison: { ...v.comparison, effect: 0, ci: [0, 0] as [number, number], pValue: 1, adjustedPValue: 1, significant: false, error: { code: 'ZERO_VARIANCE', message: 'every unit in blue converted' } } })) })),
    };
    render(<BreakdownTable breakdown={{ dimension: 'country', environment: 'production', values: [{ value: 'US', results: failed }], omitted: { values: 0, units: 0 } }} metric="revenue" onChoose={() => undefined} />);

    const cells = screen.getAllByRole('cell');
    expect(cells[2]?.textContent).toBe('— every unit in blue converted');
    expect(cells[2]?.textContent).not.toMatch(/ZERO_VARIANCE|1\.000/);
  });


  it('heads each treatment by its name, as the rest of the results view does, and shows the corrected interval', () => {
    const named = results([]);
    const withNames: ExperimentResultsView = {
      ...named,
      variations: named.variations.map((v) => (v.key === 'blue' ? { ...v, name: 'Blue button' } : v)),
      metrics: named.metrics.map((m) => ({ ...m, variations: m.variations.map((v) => (v.comparison === null ? v : { ...v, comparison: { ...v.comparison, adjustedCi: [-0.01, 0.21] as [number, number] } })) })),
    };
    render(<BreakdownTable breakdown={{ dimension: 'country', environment: 'production', values: [{ value: 'US', results: withNames }], omitted: { values: 0, units: 0 } }} metric="revenue" onChoose={() => undefined} />);

    const headers = screen.getAllByRole('columnheader').map((h) => h.textContent);
    // Holm by default: the interval and p-value are the corrected ones, and say so.
    expect(headers).toEqual(['country', 'Units', 'Blue button: effect [CI], p (corrected)', 'green: effect [CI], p (corrected)']);
    expect(screen.getAllByRole('cell').some((c) => c.textContent.includes('-0.01'))).toBe(true);
    cleanup();

    const none: ExperimentResultsView = { ...withNames, analysis: { ...withNames.analysis, correction: 'none' } };
    render(<BreakdownTable breakdown={{ dimension: 'country', environment: 'production', values: [{ value: 'US', results: none }], omitted: { values: 0, units: 0 } }} metric="revenue" onChoose={() => undefined} />);
    expect(screen.getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['country', 'Units', 'Blue button: effect [CI], p', 'green: effect [CI], p']);
  });

  it('names the filters the breakdown applied, and says when no unit they keep has a value', () => {
    const filters = { from: null, to: null, segment: 'beta', attributes: { plan: 'pro' } };
    render(<BreakdownTable breakdown={{ dimension: 'country', environment: 'production', filters, values: [], omitted: { values: 0, units: 0 } }} metric="revenue" onChoose={() => undefined} />);

    expect(screen.getByRole('note').textContent).toBe('Filtered as the results: segment beta, plan = pro.');
    expect(screen.getByText('No unit these filters keep has a value for country.')).toBeTruthy();
  });
});
