/** Numbers for humans: percentages, intervals, p-values, counts. Pure, locale-independent output. */

const plain = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const small = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 2 });
const twoDecimals = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const twoSignificant = new Intl.NumberFormat('en-US', { minimumSignificantDigits: 2, maximumSignificantDigits: 2 });

/** 0.1234 → "12.3%"; signed adds "+" to positive values. */
export function formatPercent(value: number, options: { signed?: boolean; digits?: number } = {}): string {
  if (!Number.isFinite(value)) {
    return '—';
  }
  const digits = options.digits ?? 1;
  const text = `${(value * 100).toFixed(digits)}%`;
  return options.signed === true && value > 0 ? `+${text}` : text.replace(/^-0\.0+%$/, '0.0%');
}

/**
 * A probability such as a chance to win, with one decimal: never "100.0%" or "0.0%", which read as
 * certainty the data cannot give, but ">99.9%" and "<0.1%".
 */
export function formatProbability(value: number): string {
  if (Number.isFinite(value) && value > 0.999) {
    return '>99.9%';
  }
  if (Number.isFinite(value) && value < 0.001) {
    return '<0.1%';
  }
  return formatPercent(value);
}

/** An effect in the unit of its comparison: relative lifts as percentages, absolute as numbers. */
export function formatEffect(value: number, difference: 'relative' | 'absolute'): string {
  if (difference === 'relative') {
    return formatPercent(value, { signed: true });
  }
  if (!Number.isFinite(value)) {
    return '—';
  }
  const text = plain.format(value);
  return value > 0 ? `+${text}` : text;
}

/** "[−1.2%, +4.5%]"; an open end (null) shows as ∞. */
export function formatInterval(ci: readonly [number | null, number | null], difference: 'relative' | 'absolute'): string {
  const lo = ci[0] === null ? '−∞' : formatEffect(ci[0], difference);
  const hi = ci[1] === null ? '+∞' : formatEffect(ci[1], difference);
  return `[${lo}, ${hi}]`;
}

/** p-values: "< 0.001" below a thousandth, three decimals otherwise. */
export function formatPValue(p: number): string {
  if (!Number.isFinite(p)) {
    return '—';
  }
  if (p < 0.001) {
    return '< 0.001';
  }
  return p.toFixed(3);
}

/** 1234567 → "1,234,567"; with compact, "1.2M". */
export function formatCount(n: number, options: { compact?: boolean } = {}): string {
  if (!Number.isFinite(n)) {
    return '—';
  }
  return options.compact === true && Math.abs(n) >= 10_000 ? compact.format(n) : integer.format(n);
}

/** 1234.567 → "1,234.57"; below 0.1, two significant digits (0.0034 → "0.0034", not "0"). */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) {
    return '—';
  }
  return n !== 0 && Math.abs(n) < 0.1 ? small.format(n) : plain.format(n);
}

/**
 * A mean of counts or sums, as docs/console.md promises: always two decimals (0.3 → "0.30", 0 →
 * "0.00", 1234.5 → "1,234.50"), or two significant digits below 0.1 (0.0034 → "0.0034", 0.05 →
 * "0.050"), so the means of a table line up. formatNumber drops trailing zeros (for other callers).
 */
export function formatMean(n: number): string {
  if (!Number.isFinite(n)) {
    return '—';
  }
  return n !== 0 && Math.abs(n) < 0.1 ? twoSignificant.format(n) : twoDecimals.format(n);
}

/** "3 days", "1 day", "5 hours", "1,204 days": rounded up, for durations proposed by the power calculator. */
export function formatDays(days: number): string {
  if (!Number.isFinite(days) || days <= 0) {
    return '—';
  }
  if (days < 1) {
    const hours = Math.ceil(days * 24);
    return `${hours} hour${hours === 1 ? '' : 's'}`;
  }
  const d = Math.ceil(days);
  return `${integer.format(d)} day${d === 1 ? '' : 's'}`;
}

/** A timestamp in the user's locale, short. */
export function formatTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) {
    return '—';
  }
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** "p < 0.001" or "p = 0.042", for sentences. */
export function pValueText(p: number): string {
  const text = formatPValue(p);
  return text.startsWith('<') ? `p ${text}` : `p = ${text}`;
}

/** The distinct, trimmed, non-empty items of a comma-separated field ("country, plan"). */
export function commaList(text: string): string[] {
  return [...new Set(text.split(',').map((item) => item.trim()).filter((item) => item !== ''))];
}
