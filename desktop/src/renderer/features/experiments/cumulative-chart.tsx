import type { ReactNode } from 'react';
import type { ExperimentResultsView, ResultsQuery } from '@xp/shared';
import { formatEffect } from '../../lib/format.js';
import { calendarDay, localTimeZone, startOfDay } from '../../lib/zoned-time.js';
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

/** The key under which a row says why a variation has no value there ("no comparison: …"). */
export const noteKey = (variation: string): string => `${variation} note`;

/** The key of a row's time range, which heads its tooltip. */
export const RANGE_KEY = 'range';

/** A series point's comparison, with the `error` the API sets when none could be made. */
type SeriesComparison = ExperimentResultsView['timeSeries']['points'][number]['metrics'][number];

export interface CumulativeSeries {
  /** Variations compared with the control, in the metric's order. */
  readonly variations: readonly string[];
  readonly difference: 'relative' | 'absolute';
  /**
   * One row per time-series point: `x` (its label), `range` (the bucket's time range), each
   * variation's effect and its `[low, high]` interval (null when an end is open), both null where
   * no comparison could be made, with the reason under `noteKey(variation)`.
   */
  readonly rows: readonly Readonly<Record<string, ChartValue>>[];
  /** Per variation, the points that have no comparison and the latest reason (only variations with such points). */
  readonly gaps: readonly { readonly variation: string; readonly points: number; readonly reason: string }[];
  /**
   * Whether the bands are the multiple-comparison adjusted intervals (as the results table shows).
   * The results API's time-series points carry `adjustedCi`; a point from an older server, without
   * it, is drawn with its unadjusted `ci` (and the chart says so).
   */
  readonly adjusted: boolean;
}

/** A point's adjusted interval (absent from older servers). */
function adjustedCiOf(point: SeriesComparison): readonly [number | null, number | null] | undefined {
  return point.adjustedCi;
}

/** How many comparisons the results' multiple-comparison correction covers: every treatment on every metric. */
export function comparisonCount(results: ExperimentResultsView): number {
  return results.metrics.reduce((n, m) => n + m.variations.filter((v) => v.comparison !== null).length, 0);
}

/** A bucket's axis label and its time range, from the API's `bucket` (start) and `end`; with `zoneNames`, its times say their zone. */
export type BucketLabeller = (bucket: string, end: string, interval: string, zoneNames: boolean) => { readonly label: string; readonly range: string };

/**
 * The cumulative effect and interval of one metric per treatment, from the results' time series.
 * Points whose labels coincide (the hour repeated when clocks go back: 01:00 EDT and 01:00 EST) are
 * labelled with their zone, so no two points read alike.
 */
export function cumulativeSeries(results: ExperimentResultsView, metric: string, labels: BucketLabeller = (bucket, end, interval, zoneNames) => bucketLabels(bucket, end, interval, { zoneNames })): CumulativeSeries | undefined {
  const m = results.metrics.find((x) => x.key === metric);
  if (m === undefined) {
    return undefined;
  }
  const variations = m.variations.filter((v) => v.comparison !== null).map((v) => v.variation);
  const difference = m.variations.find((v) => v.comparison !== null)?.comparison?.difference ?? 'relative';
  const gaps = new Map<string, { points: number; reason: string }>();
  let drawn = 0;
  let drawnAdjusted = 0;
  const plain = results.timeSeries.points.map((p) => labels(p.bucket, p.end, results.timeSeries.interval, false).label);
  const repeated = new Set(plain.filter((label, i) => plain.indexOf(label) !== i));
  const rows = results.timeSeries.points.map((p, i) => {
    const { label, range } = labels(p.bucket, p.end, results.timeSeries.interval, repeated.has(plain[i]!));
    const row: Record<string, ChartValue> = { x: label, [RANGE_KEY]: range };
    for (const v of variations) {
      const point: SeriesComparison | undefined = p.metrics.find((pm) => pm.metric === metric && pm.variation === v);
      const error = point?.error ?? null;
      if (point === undefined || error !== null) {
        // No comparison here (too few units, no variance, no conversions in an arm): the API's
        // neutral placeholders (effect 0, interval [0, 0]) are not drawn as if measured.
        const reason = error?.message ?? 'not computed';
        row[v] = null;
        row[bandKey(v)] = null;
        row[noteKey(v)] = `no comparison: ${reason}`;
        gaps.set(v, { points: (gaps.get(v)?.points ?? 0) + 1, reason });
        continue;
      }
      row[v] = point.effect;
      const adjustedCi = adjustedCiOf(point);
      drawn++;
      drawnAdjusted += adjustedCi === undefined ? 0 : 1;
      const [lo, hi] = adjustedCi ?? point.ci;
      row[bandKey(v)] = lo === null || hi === null ? null : [lo, hi];
    }
    return row;
  });
  // Nothing drawn: no interval to call unadjusted (the chart shows none).
  return { variations, difference, rows, adjusted: drawnAdjusted === drawn, gaps: variations.flatMap((v) => {
    const gap = gaps.get(v);
    return gap === undefined ? [] : [{ variation: v, ...gap }];
  }) };
}

const HOUR_MS = 3_600_000;
const dateOnly: Intl.DateTimeFormatOptions = { month: 'short', day: 'numeric' };
const dateAndTime: Intl.DateTimeFormatOptions = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
const timeOnly: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit' };

/** The short name of the zone's offset at an instant ("EST", "GMT+5:30"). */
function zoneName(at: number, timeZone: string): string | undefined {
  return new Intl.DateTimeFormat(undefined, { timeZone, timeZoneName: 'short' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value;
}

/**
 * A point is labelled by the START of its bucket, in `timeZone` (the browser's, by default; the API's
 * `bucket`; `end` is the start of the next one): the hour of 02:00–03:00 reads 02:00, and its
 * tooltip gives the range. A day that does not start at midnight there (days run from the hour the
 * experiment started in) shows its starting time too. With `zoneNames` the times say their zone
 * ("01:00 AM EDT"); the range of a bucket across a change of offset says it anyway, as it would
 * otherwise read "01:00 AM – 01:00 AM" where clocks go back.
 */
export function bucketLabels(bucket: string, end: string, interval: string, { timeZone = localTimeZone(), zoneNames = false }: { readonly timeZone?: string; readonly zoneNames?: boolean } = {}): { label: string; range: string } {
  const start = Date.parse(bucket);
  const stop = Date.parse(end);
  if (Number.isNaN(start) || Number.isNaN(stop)) {
    return { label: bucket, range: `${bucket} – ${end}` };
  }
  const rangeNamed = zoneNames || zoneName(start, timeZone) !== zoneName(stop, timeZone);
  const show = (at: number, options: Intl.DateTimeFormatOptions, named: boolean): string => new Date(at).toLocaleString(undefined, { ...options, timeZone, ...(named ? { timeZoneName: 'short' } : {}) });
  const sameDay = calendarDay(start, timeZone) === calendarDay(stop - 1, timeZone);
  if (interval === 'hour' || stop - start <= HOUR_MS) {
    return { label: show(start, dateAndTime, zoneNames), range: `${show(start, dateAndTime, rangeNamed)} – ${show(stop, sameDay ? timeOnly : dateAndTime, rangeNamed)}` };
  }
  const dayStart = (at: number): boolean => startOfDay(calendarDay(at, timeZone), timeZone) === at;
  const midnight = dayStart(start) && dayStart(stop);
  if (midnight && sameDay) {
    // A whole day is a date: its range is its label, whatever its length.
    const label = show(start, dateOnly, zoneNames);
    return { label, range: label };
  }
  return { label: show(start, midnight ? dateOnly : dateAndTime, zoneNames), range: `${show(start, dateAndTime, rangeNamed)} – ${show(stop, dateAndTime, rangeNamed)}` };
}

/** The cumulative effect of one metric per variation, with its confidence interval shaded; no point where no comparison could be made. */
export function CumulativeChart({ results, metric, emptyText }: { results: ExperimentResultsView; metric: string; /** Said instead of "fills in as exposures arrive" when a filter leaves no points. */ emptyText?: string }): ReactNode {
  const series = cumulativeSeries(results, metric);
  const name = results.metrics.find((x) => x.key === metric)?.name ?? metric;
  if (series === undefined || series.rows.length === 0) {
    return <p className="muted small">{emptyText ?? 'No time series yet: it fills in as exposures arrive.'}</p>;
  }
  const label = (v: string): string => results.variations.find((x) => x.key === v)?.name ?? v;
  // The table's intervals are corrected for the comparisons of every metric and treatment; the
  // series' are not (the API sends unadjusted ones): say so rather than show two numbers as one.
  const comparisons = comparisonCount(results);
  const corrected = results.analysis.correction !== 'none' && comparisons > 1;
  const kind = results.analysis.sequential ? 'always-valid' : 'confidence';
  const unadjusted = corrected && !series.adjusted;
  return (
    <>
      <XpLineChart
        title={`Cumulative effect of ${name} over time, with its ${unadjusted ? 'unadjusted ' : corrected ? 'corrected ' : ''}${kind} interval`}
        data={series.rows}
        series={series.variations.map((v, i) => {
          const gap = series.gaps.find((g) => g.variation === v);
          // A variation with no comparison at any point draws nothing: the legend says why.
          const legend = gap !== undefined && gap.points === series.rows.length ? { legend: `${label(v)} (no comparison: ${gap.reason})` } : {};
          return { key: v, label: label(v), ...legend, color: SERIES_COLORS[i % SERIES_COLORS.length]!, bandKey: bandKey(v), noteKey: noteKey(v) };
        })}
        formatY={(v) => formatEffect(v, series.difference)}
        reference={0}
        tooltipLabelKey={RANGE_KEY}
      />
      {unadjusted ? (
        <p className="small muted" aria-label="Chart intervals">
          The chart's intervals are not adjusted for multiple comparisons, so they are narrower than the table's, which are corrected ({results.analysis.correction}) for {comparisons} comparisons. Judge significance by the table.
        </p>
      ) : null}
      {series.gaps.length === 0 ? null : (
        <ul className="small muted" aria-label="Points not drawn">
          {series.gaps.map((g) => (
            <li key={g.variation}>
              {label(g.variation)}: no comparison at {g.points === series.rows.length ? 'any point' : `${g.points} of ${series.rows.length} points`} (left out of the chart): {g.reason}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
