import type { ReactNode } from 'react';
import { Area, CartesianGrid, ComposedChart, ErrorBar, Legend, Line, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

/** One line of a chart: which field of each point it plots, its label and colour. */
export interface SeriesConfig<K extends string> {
  readonly key: K;
  readonly label: string;
  readonly color: string;
  /** A field holding `[low, high]` per point, shaded around the line (a confidence interval); null leaves a gap. */
  readonly bandKey?: string;
  /** A field holding, where the value is null, why the point is missing: the tooltip says it. */
  readonly noteKey?: string;
  /** The legend's text, when it says more than `label` (why a series draws nothing). */
  readonly legend?: string;
}

/** A point's value: a number, a `[low, high]` band, a label, or null for a gap. */
export type ChartValue = string | number | readonly [number, number] | null;

export interface LineChartProps<K extends string> {
  /** Points: `x` is the category axis, each series key a value (null leaves a gap). */
  readonly data: readonly Readonly<Record<string, ChartValue>>[];
  readonly series: readonly SeriesConfig<K>[];
  readonly formatY: (v: number) => string;
  readonly title: string;
  readonly height?: number;
  /** Draws a dashed line at this y (0 for effects). */
  readonly reference?: number;
  /** A field of each point whose text heads its tooltip instead of `x` (the full time range of a point labelled by its start). */
  readonly tooltipLabelKey?: string;
}

export const SERIES_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7'] as const;

const isBand = (v: ChartValue | undefined): v is readonly [number, number] => Array.isArray(v);

/**
 * The tooltip of a point: its label (or the text under `labelKey`), then each series' value,
 * followed by its band as an interval when it has one, or why it has no value (its note).
 */
export function PointTooltip<K extends string>({ active, label, labelKey, row, series, formatY }: { active: boolean; label: unknown; labelKey?: string | undefined; row: Readonly<Record<string, ChartValue>> | undefined; series: readonly SeriesConfig<K>[]; formatY: (v: number) => string }): ReactNode {
  if (!active || row === undefined) {
    return null;
  }
  const heading = labelKey === undefined ? undefined : row[labelKey];
  return (
    <div role="tooltip" style={{ background: 'var(--panel)', border: '1px solid var(--border)', padding: '6px 10px', fontSize: 12 }}>
      <div>{typeof heading === 'string' ? heading : String(label)}</div>
      {series.map((s) => {
        const value = row[s.key];
        const band = s.bandKey === undefined ? undefined : row[s.bandKey];
        const note = s.noteKey === undefined ? undefined : row[s.noteKey];
        if (typeof value === 'number') {
          return (
            <div key={s.key} style={{ color: s.color }}>
              {s.label}: {formatY(value)}
              {isBand(band) ? ` [${formatY(band[0])}, ${formatY(band[1])}]` : ''}
            </div>
          );
        }
        return typeof note === 'string' ? (
          <div key={s.key} style={{ color: s.color }}>
            {s.label}: {note}
          </div>
        ) : null;
      })}
    </div>
  );
}

/** The key of a band's error-bar form: `[value - low, high - value]`, what recharts' ErrorBar reads. */
const errorKey = (bandKey: string): string => `${bandKey} error`;

/** The rows with each band also as error-bar offsets from its line's value (for charts of one or two points). */
function withErrors<K extends string>(data: readonly Readonly<Record<string, ChartValue>>[], series: readonly SeriesConfig<K>[]): Record<string, ChartValue>[] {
  return data.map((row) => {
    const out: Record<string, ChartValue> = { ...row };
    for (const s of series) {
      const band = s.bandKey === undefined ? undefined : row[s.bandKey];
      const value = row[s.key];
      if (s.bandKey !== undefined && isBand(band) && typeof value === 'number') {
        out[errorKey(s.bandKey)] = [Math.max(0, value - band[0]), Math.max(0, band[1] - value)];
      }
    }
    return out;
  });
}

/** Every line chart in the console goes through here, so axes, tooltips, bands and colours stay consistent. */
export function XpLineChart<K extends string>({ data, series, formatY, title, height = 260, reference, tooltipLabelKey }: LineChartProps<K>): ReactNode {
  // A line and a band need two points: with fewer, points are dots and bands are error bars, so a young experiment still shows.
  const sparse = data.length < 3;
  // Null values are gaps, not bridged: a series with gaps shows its points as dots, so one between two gaps is still seen.
  const gappy = (key: string): boolean => data.some((row) => typeof row[key] !== 'number');
  return (
    <figure aria-label={title} style={{ margin: 0 }}>
      <ResponsiveContainer width="100%" height={height}>
        <ComposedChart data={sparse ? withErrors(data, series) : data} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="x" stroke="var(--muted)" fontSize={11} />
          <YAxis stroke="var(--muted)" fontSize={11} tickFormatter={(v: number) => formatY(v)} width={64} />
          {/* filterNull off: a point where every series is a gap still has a tooltip, saying why. */}
          <Tooltip filterNull={false} content={(props) => <PointTooltip active={props.active} label={props.label} labelKey={tooltipLabelKey} row={props.payload[0]?.payload as Readonly<Record<string, ChartValue>> | undefined} series={series} formatY={formatY} />} />
          <Legend />
          {reference === undefined ? null : <ReferenceLine y={reference} stroke="var(--muted)" strokeDasharray="4 4" />}
          {series.map((s) =>
            s.bandKey === undefined || sparse ? null : (
              <Area key={`${s.key}-band`} type="monotone" dataKey={s.bandKey} name={`${s.label} interval`} stroke="none" fill={s.color} fillOpacity={0.15} legendType="none" isAnimationActive={false} connectNulls={false} />
            ),
          )}
          {series.map((s) => (
            <Line key={s.key} type="monotone" dataKey={s.key} name={s.legend ?? s.label} stroke={s.color} dot={sparse || gappy(s.key)} isAnimationActive={false} connectNulls={false}>
              {s.bandKey === undefined || !sparse ? null : <ErrorBar dataKey={errorKey(s.bandKey)} stroke={s.color} width={8} direction="y" isAnimationActive={false} />}
            </Line>
          ))}
        </ComposedChart>
      </ResponsiveContainer>
      <figcaption className="small muted">{title}</figcaption>
    </figure>
  );
}
