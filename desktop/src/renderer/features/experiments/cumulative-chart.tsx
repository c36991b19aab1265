import type { ReactNode } from 'react';
import type { ExperimentResultsView, ResultsQuery } from '@xp/shared';
import { formatEffect } from '../../lib/format.js';
import type { ChartValue } from '../charts/chart.js';
import { SERIES_COLORS, XpLineChart } from '../charts/chart.js';

/** The results API's time-series bucket width. */
export type SeriesInterval = NonNullable<ResultsQuery['interval']>;

/** Below this age an experiment's time series is shown by hour: by day, its first days are one or two points. */
const HOURLY_UNTIL_MS = 3 * 86_400_000;

/** The bucket width a results screen opens with: hours for an experiment started less than three days ago, else days. */
export function defaultInterval(startedAt: string | null | undefined, now: number = Date.now()): SeriesInterval {
  const started = startedAt === null || startedAt === undefined ? Number.NaN : Date.parse(startedAt);
  return Number.isNaN(started) || now - started < HOURLY_UNTIL_MS ? 'hour' : 'day';
}

/** The key under which a variation's interval band is kept in a chart row. */
export const bandKey = (variation: string): string => `${variation} interval`;

export interface CumulativeSeries {
  /** Variations compared with the control, in the metric's order. */
  readonly variations: readonly string[];
  readonly difference: 'relative' | 'absolute';
  /** One row per time-series point: `x` (its label), each variation's effect, and its `[low, high]` interval (null when an end is open). */
  readonly rows: readonly Readonly<Record<string, ChartValue>>[];
}

/** The cumulative effect and interval of one metric per treatment, from the results' time series. */
export function cumulativeSeries(results: ExperimentResultsView, metric: string, label: (end: string, interval: string) => string = pointLabel): CumulativeSeries | undefined {
  const m = results.metrics.find((x) => x.key === metric);
  if (m === undefined) {
    return undefined;
  }
  const variations = m.variations.filter((v) => v.comparison !== null).map((v) => v.variation);
  const difference = m.variations.find((v) => v.comparison !== null)?.comparison?.difference ?? 'relative';
  const rows = results.timeSeries.points.map((p) => {
    const row: Record<string, ChartValue> = { x: label(p.end, results.timeSeries.interval) };
    for (const v of variations) {
      const point = p.metrics.find((pm) => pm.metric === metric && pm.variation === v);
      row[v] = point?.effect ?? null;
      const [lo, hi] = point?.ci ?? [null, null];
      row[bandKey(v)] = lo === null || hi === null ? null : [lo, hi];
    }
    return row;
  });
  return { variations, difference, rows };
}

function pointLabel(end: string, interval: string): string {
  const at = new Date(end);
  return interval === 'hour'
    ? at.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
    : at.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** The cumulative effect of one metric per variation, with its confidence interval shaded. */
export function CumulativeChart({ results, metric }: { results: ExperimentResultsView; metric: string }): ReactNode {
  const series = cumulativeSeries(results, metric);
  const name = results.metrics.find((x) => x.key === metric)?.name ?? metric;
  if (series === undefined || series.rows.length === 0) {
    return <p className="muted small">No time series yet: it fills in as exposures arrive.</p>;
  }
  return (
    <XpLineChart
      title={`Cumulative effect of ${name} over time, with its ${results.analysis.sequential ? 'always-valid' : 'confidence'} interval`}
      data={series.rows}
      series={series.variations.map((v, i) => ({ key: v, label: results.variations.find((x) => x.key === v)?.name ?? v, color: SERIES_COLORS[i % SERIES_COLORS.length]!, bandKey: bandKey(v) }))}
      formatY={(v) => formatEffect(v, series.difference)}
      reference={0}
    />
  );
}
