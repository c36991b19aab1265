import type { ReactNode } from 'react';

/**
 * A generous average advance of one character of the console's sans-serif, in em: an estimate
 * (SVG text cannot be measured before it is drawn, nor at all in tests), erring wide so that a label
 * estimated to fit its column does.
 */
const CHAR_EM = 0.62;

export interface LabelColumn {
  /** The column's width in px: the longest label's, within [min, max], with the gap before the plot. */
  readonly width: number;
  /** The most characters a label keeps in it; a longer one is cut with an ellipsis. */
  readonly maxChars: number;
}

/**
 * A column of labels left of a plot (a forest plot's variation names): as wide as its longest label,
 * from `min` to `max` px, so a short name leaves the plot its room and a long one is cut rather than
 * drawn over the plot.
 */
export function labelColumn(labels: readonly string[], { fontSize = 11, min = 40, max = 180, gap = 10 }: { fontSize?: number; min?: number; max?: number; gap?: number } = {}): LabelColumn {
  const charWidth = fontSize * CHAR_EM;
  const longest = Math.max(0, ...labels.map((label) => Array.from(label).length));
  const width = Math.min(max, Math.max(min, Math.ceil(longest * charWidth) + gap));
  return { width, maxChars: Math.max(1, Math.floor((width - gap) / charWidth)) };
}

/** `label` cut to `maxChars` characters (whole code points), its end an ellipsis when cut. */
export function truncateLabel(label: string, maxChars: number): string {
  const chars = Array.from(label);
  return chars.length <= maxChars ? label : `${chars.slice(0, Math.max(1, maxChars - 1)).join('').trimEnd()}…`;
}

/** An SVG label cut to its column with an ellipsis; a cut one carries its full text as its <title> (shown when pointed at). */
export function SvgLabel({ x, y, text, maxChars, className }: { x: number; y: number; text: string; maxChars: number; className?: string }): ReactNode {
  const shown = truncateLabel(text, maxChars);
  return (
    <text x={x} y={y} {...(className === undefined ? {} : { className })}>
      {shown === text ? text : <title>{text}</title>}
      {shown === text ? null : shown}
    </text>
  );
}
