import { useId } from 'react';
import type { ReactNode } from 'react';
import { formatEffect, formatInterval } from '../../lib/format.js';
import { labelColumn, SvgLabel } from '../charts/svg-label.js';

export interface ForestRow {
  readonly label: string;
  readonly effect: number;
  readonly ci: readonly [number | null, number | null];
  /** good / bad when significant in the metric's better / worse direction. */
  readonly tone: 'good' | 'bad' | 'neutral';
}

/** A tone in words, so that better and worse are not told by colour alone (WCAG 1.4.1). */
export const TONE_TEXT: Readonly<Record<ForestRow['tone'], string>> = { good: 'significant · better', bad: 'significant · worse', neutral: 'not significant' };

/** One row of the plot in words: "Treatment: +20.0% [+12.0%, +28.0%], significant · better". */
export function forestRowText(row: ForestRow, difference: 'relative' | 'absolute'): string {
  return `${row.label}: ${formatEffect(row.effect, difference)} ${formatInterval(row.ci, difference)}, ${TONE_TEXT[row.tone]}`;
}

const ROW = 22;
const WIDTH = 520;

/** Effects with their intervals on one axis around zero: a plain SVG, cheap for 100 rows. */
export function ForestPlot({ rows, difference, title }: { rows: readonly ForestRow[]; difference: 'relative' | 'absolute'; title: string }): ReactNode {
  const values = rows.flatMap((r) => [r.effect, r.ci[0], r.ci[1]]).filter((v): v is number => v !== null && Number.isFinite(v));
  const extent = Math.max(1e-9, ...values.map((v) => Math.abs(v))) * 1.15;
  // The names' column is as wide as the longest (up to 180 px): a longer name is cut with an ellipsis, its full text its <title>.
  const names = labelColumn(rows.map((r) => r.label));
  const plotWidth = WIDTH - names.width - 20;
  const x = (v: number): number => names.width + ((Math.max(-extent, Math.min(extent, v)) + extent) / (2 * extent)) * plotWidth;
  const height = rows.length * ROW + 24;
  const textId = useId();
  return (
    <>
      <svg className="forest" viewBox={`0 0 ${WIDTH} ${height}`} width={WIDTH} height={height} role="img" aria-label={title} aria-describedby={textId}>
        <title>{title}</title>
        <line className="zero" x1={x(0)} x2={x(0)} y1={4} y2={height - 18} />
        <text x={x(-extent)} y={height - 4}>
          {formatEffect(-extent, difference)}
        </text>
        <text x={x(0) - 6} y={height - 4}>
          0
        </text>
        <text x={x(extent) - 40} y={height - 4}>
          {formatEffect(extent, difference)}
        </text>
        {rows.map((r, i) => {
          const y = 14 + i * ROW;
          const lo = r.ci[0] === null ? x(-extent) : x(r.ci[0]);
          const hi = r.ci[1] === null ? x(extent) : x(r.ci[1]);
          return (
            <g key={r.label}>
              <title>{forestRowText(r, difference)}</title>
              <SvgLabel x={4} y={y + 4} text={r.label} maxChars={names.maxChars} />
              <line className={`ci ${r.tone}`} x1={lo} x2={hi} y1={y} y2={y} />
              <circle cx={x(r.effect)} cy={y} r={4} className={`ci ${r.tone}`} fill="currentColor" />
            </g>
          );
        })}
      </svg>
      {/* The marks in words (their colours say better / worse): the image's description. */}
      <ul id={textId} className="visually-hidden">
        {rows.map((r) => (
          <li key={r.label}>{forestRowText(r, difference)}</li>
        ))}
      </ul>
    </>
  );
}
