import type { ReactNode } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

/** One line of a chart: which field of each point it plots, its label and colour. */
export interface SeriesConfig<K extends string> {
  readonly key: K;
  readonly label: string;
  readonly color: string;
}

export interface LineChartProps<K extends string> {
  /** Points: `x` is the category axis, each series key a value (null leaves a gap). */
  readonly data: readonly Readonly<Record<string, string | number | null>>[];
  readonly series: readonly SeriesConfig<K>[];
  readonly formatY: (v: number) => string;
  readonly title: string;
  readonly height?: number;
  /** Draws a dashed line at this y (0 for effects). */
  readonly reference?: number;
}

export const SERIES_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7'] as const;

/** Every line chart in the console goes through here, so axes, tooltips and colours stay consistent. */
export function XpLineChart<K extends string>({ data, series, formatY, title, height = 260, reference }: LineChartProps<K>): ReactNode {
  return (
    <figure aria-label={title} style={{ margin: 0 }}>
      <ResponsiveContainer width="100%" height={height}>
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          <XAxis dataKey="x" stroke="var(--muted)" fontSize={11} />
          <YAxis stroke="var(--muted)" fontSize={11} tickFormatter={(v: number) => formatY(v)} width={64} />
          <Tooltip formatter={(v) => (typeof v === 'number' ? formatY(v) : String(v))} contentStyle={{ background: 'var(--panel)', border: '1px solid var(--border)' }} />
          <Legend />
          {reference === undefined ? null : <ReferenceLine y={reference} stroke="var(--muted)" strokeDasharray="4 4" />}
          {series.map((s) => (
            <Line key={s.key} type="monotone" dataKey={s.key} name={s.label} stroke={s.color} dot={false} isAnimationActive={false} connectNulls />
          ))}
        </LineChart>
      </ResponsiveContainer>
      <figcaption className="small muted">{title}</figcaption>
    </figure>
  );
}
