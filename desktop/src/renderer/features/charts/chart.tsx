import { useId, useLayoutEffect, useRef, useState } from 'react';
import type { ReactNode, RefObject } from 'react';
import { ScrollRegion } from '../../lib/ui.js';
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
  /** How a line joins its points: smoothly (default), or as steps holding each value until the next point (a split over time). */
  readonly curve?: 'monotone' | 'stepAfter';
}

/**
 * Series colours, set per theme in styles.css (`--series-1` … `--series-8`): the legend and the
 * tooltip write series names in them, so each reaches 4.5:1 on the page and the panel of its theme.
 */
export const SERIES_COLORS = ['var(--series-1)', 'var(--series-2)', 'var(--series-3)', 'var(--series-4)', 'var(--series-5)', 'var(--series-6)', 'var(--series-7)', 'var(--series-8)'] as const;

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

/** The key of a point's position on the x axis of a chart of one or two points (its index). */
const INDEX_KEY = 'x index';

/** The key of a series' own position at each point of such a chart: its index, moved aside from the other series'. */
export const dodgeKey = (key: string): string => `${key} x`;

/**
 * How far each series is moved from its point, in points (the distance between two points is 1):
 * centred on the point, at most a tenth apart and together under half of it, so several series'
 * error bars at one point stand side by side instead of on one vertical line.
 */
export function dodgeOffsets(count: number): number[] {
  const step = count <= 1 ? 0 : Math.min(0.1, 0.5 / count);
  return Array.from({ length: count }, (_v, i) => (i - (count - 1) / 2) * step);
}

/**
 * The rows of a chart of one or two points: each band also as error-bar offsets from its line's
 * value, and each series' own x position (the point's index, moved aside by its dodge offset).
 */
function sparseRows<K extends string>(data: readonly Readonly<Record<string, ChartValue>>[], series: readonly SeriesConfig<K>[]): Record<string, ChartValue>[] {
  const offsets = dodgeOffsets(series.length);
  return data.map((row, index) => {
    const out: Record<string, ChartValue> = { ...row, [INDEX_KEY]: index };
    series.forEach((s, i) => {
      out[dodgeKey(s.key)] = index + (offsets[i] ?? 0);
      const band = s.bandKey === undefined ? undefined : row[s.bandKey];
      const value = row[s.key];
      if (s.bandKey !== undefined && isBand(band) && typeof value === 'number') {
        out[errorKey(s.bandKey)] = [Math.max(0, value - band[0]), Math.max(0, band[1] - value)];
      }
    });
    return out;
  });
}

/** recharts' z-index layers: the <g> groups it portals the grid, lines, axes, cursor and labels into. */
const LAYER_SELECTOR = 'g[class^="recharts-zIndex-layer_"], g[class*=" recharts-zIndex-layer_"]';

/**
 * Takes recharts' z-index layers out of the Tab order. Each is the container of a React portal, and
 * React listens for focusin/focusout on portal containers; Chromium makes an SVG element with focus
 * listeners focusable, so without a tabindex each layer with content was a Tab stop of its own (7
 * per chart) showing a focus box over the plot. An explicit tabindex="-1" keeps them out of the
 * sequence (recharts 3.11 dropped the one it used to set, recharts/recharts#7805). Layers come and
 * go as the chart renders (the cursor's on hover), so new ones are caught as they are added.
 */
export function useUntabbableLayers(root: RefObject<HTMLElement | null>): void {
  useLayoutEffect(() => {
    const el = root.current;
    if (el === null) {
      return undefined;
    }
    const mark = (): void => {
      for (const layer of el.querySelectorAll(LAYER_SELECTOR)) {
        if (layer.getAttribute('tabindex') !== '-1') {
          layer.setAttribute('tabindex', '-1');
        }
      }
    };
    mark();
    if (typeof MutationObserver === 'undefined') {
      return undefined;
    }
    // Only added and removed nodes are watched: setting the attribute does not call this again.
    const observer = new MutationObserver(mark);
    observer.observe(el, { childList: true, subtree: true });
    return () => { observer.disconnect(); };
  }, [root]);
}

/** What the chart's keyboard layer does, read by screen readers with its name. */
export const CHART_KEYS_HINT = 'Left and right arrow keys move between points; the tooltip shows each point\'s values.';

/** A series' value at a point in words: "0.12 [0.05, 0.19]", why it is missing (its note), or a dash. */
function cellText<K extends string>(row: Readonly<Record<string, ChartValue>>, s: SeriesConfig<K>, formatY: (v: number) => string): string {
  const value = row[s.key];
  const band = s.bandKey === undefined ? undefined : row[s.bandKey];
  const note = s.noteKey === undefined ? undefined : row[s.noteKey];
  if (typeof value === 'number') {
    return `${formatY(value)}${isBand(band) ? ` [${formatY(band[0])}, ${formatY(band[1])}]` : ''}`;
  }
  return typeof note === 'string' ? note : '—';
}

/** The chart's points as a table: a row per point, a column per series (value and band). */
function ChartTable<K extends string>({ id, data, series, formatY, title, labelKey }: { id: string; data: LineChartProps<K>['data']; series: readonly SeriesConfig<K>[]; formatY: (v: number) => string; title: string; labelKey: string | undefined }): ReactNode {
  return (
    <div id={id}>
      <ScrollRegion label={`${title}: table`}>
        <table aria-label={`${title}: values`}>
          <thead>
            <tr>
              <th scope="col">Point</th>
              {series.map((s) => (
                <th key={s.key} scope="col" className="num">
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.map((row, i) => {
              const heading = labelKey === undefined ? undefined : row[labelKey];
              return (
                <tr key={i}>
                  <th scope="row">{typeof heading === 'string' ? heading : String(row.x ?? i + 1)}</th>
                  {series.map((s) => (
                    <td key={s.key} className="num">
                      {cellText(row, s, formatY)}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </ScrollRegion>
    </div>
  );
}

/** Every line chart in the console goes through here, so axes, tooltips, bands and colours stay consistent. */
export function XpLineChart<K extends string>({ data, series, formatY, title, height = 260, reference, tooltipLabelKey, curve = 'monotone' }: LineChartProps<K>): ReactNode {
  // A line and a band need two points: with fewer, points are dots and bands are error bars, so a young experiment still shows.
  const sparse = data.length < 3;
  // Null values are gaps, not bridged: a series with gaps shows its points as dots, so one between two gaps is still seen.
  const gappy = (key: string): boolean => data.some((row) => typeof row[key] !== 'number');
  // With one or two points the x axis is numeric (the points' indexes, labelled with their `x`):
  // each series is drawn on its own hidden axis of the same domain, from its dodged position.
  const domain: [number, number] = [-0.5, data.length - 0.5];
  const pointLabel = (index: unknown): string => {
    const x = typeof index === 'number' ? data[index]?.x : undefined;
    return x === undefined || x === null ? '' : String(x);
  };
  const figure = useRef<HTMLElement>(null);
  useUntabbableLayers(figure);
  const [asTable, setAsTable] = useState(false);
  const tableId = useId();
  return (
    <figure ref={figure} aria-label={title} style={{ margin: 0 }}>
      <ResponsiveContainer width="100%" height={height}>
        {/*
          The keyboard layer makes the plot one Tab stop (arrow keys move the tooltip between
          points), a named group rather than recharts' role application, which would take a
          screen reader's own keys away: *Show as table* lists every point's values for it.
          Its <title> names it; recharts leaves the title empty otherwise. Its layers are no Tab
          stops (useUntabbableLayers).
        */}
        <ComposedChart data={sparse ? sparseRows(data, series) : data} margin={{ top: 8, right: 16, bottom: 8, left: 8 }} accessibilityLayer role="group" title={title} desc={CHART_KEYS_HINT}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
          {sparse ? (
            <XAxis dataKey={INDEX_KEY} type="number" domain={domain} ticks={data.map((_row, i) => i)} tickFormatter={pointLabel} allowDataOverflow stroke="var(--muted)" fontSize={11} />
          ) : (
            <XAxis dataKey="x" stroke="var(--muted)" fontSize={11} />
          )}
          {sparse ? series.map((s) => <XAxis key={s.key} xAxisId={dodgeKey(s.key)} dataKey={dodgeKey(s.key)} type="number" domain={domain} allowDataOverflow hide />) : null}
          <YAxis stroke="var(--muted)" fontSize={11} tickFormatter={(v: number) => formatY(v)} width={64} />
          {/* filterNull off: a point where every series is a gap still has a tooltip, saying why. */}
          <Tooltip
            filterNull={false}
            content={(props) => {
              const row = props.payload[0]?.payload as Readonly<Record<string, ChartValue>> | undefined;
              return <PointTooltip active={props.active} label={sparse ? pointLabel(row?.[INDEX_KEY]) : props.label} labelKey={tooltipLabelKey} row={row} series={series} formatY={formatY} />;
            }}
          />
          {/* In the series' order (the variations' order in the tables), not recharts' default alphabetical one. */}
          <Legend itemSorter={null} />
          {reference === undefined ? null : <ReferenceLine y={reference} stroke="var(--muted)" strokeDasharray="4 4" />}
          {series.map((s) =>
            s.bandKey === undefined || sparse ? null : (
              <Area key={`${s.key}-band`} type="monotone" dataKey={s.bandKey} name={`${s.label} interval`} stroke="none" fill={s.color} fillOpacity={0.15} legendType="none" isAnimationActive={false} connectNulls={false} />
            ),
          )}
          {series.map((s) => (
            <Line key={s.key} {...(sparse ? { xAxisId: dodgeKey(s.key) } : {})} type={curve} dataKey={s.key} name={s.legend ?? s.label} stroke={s.color} dot={sparse || gappy(s.key)} isAnimationActive={false} connectNulls={false}>
              {s.bandKey === undefined || !sparse ? null : <ErrorBar dataKey={errorKey(s.bandKey)} stroke={s.color} width={8} direction="y" isAnimationActive={false} />}
            </Line>
          ))}
        </ComposedChart>
      </ResponsiveContainer>
      <figcaption className="small muted">
        {title}{' '}
        <button type="button" className="ghost small" aria-expanded={asTable} {...(asTable ? { 'aria-controls': tableId } : {})} onClick={() => { setAsTable(!asTable); }}>
          {asTable ? 'Hide the table' : 'Show as table'}
        </button>
      </figcaption>
      {asTable ? <ChartTable id={tableId} data={data} series={series} formatY={formatY} title={title} labelKey={tooltipLabelKey} /> : null}
    </figure>
  );
}
