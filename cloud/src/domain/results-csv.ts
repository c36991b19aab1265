/**
 * CSV renderings of experiment results (RFC 4180: CRLF line ends, fields with a comma, quote or line
 * break quoted, quotes doubled). Text cells that a spreadsheet would run as a formula (starting with
 * =, +, -, @, their full-width forms, tab or CR) are prefixed with a single quote, and so is each
 * part after a `;`, tab or `|` that starts one (a spreadsheet splitting on those would run it);
 * numbers are written as they are.
 */
import type { ExperimentResults } from './results.js';

type Cell = string | number | boolean | null;

// Full-width ＝ ＋ － ＠ too: spreadsheets in East Asian locales read them as formula starts.
const LEADING_FORMULA = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
/**
 * A cell separator of other locales and tools (`;`, tab, `|`), then a formula start after spaces or
 * quotes (a split cell starting with a quote is read as a quoted field, whose text may be a formula).
 */
const INNER_FORMULA = /([;\t|])(?=[ "]*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20])/g;

/** One CSV field. */
export function csvField(cell: Cell): string {
  if (cell === null) {
    return '';
  }
  if (typeof cell !== 'string') {
    return String(cell);
  }
  // A spreadsheet that splits on ; tab or | (Excel in semicolon locales) starts a cell after each
  // one, quotes or not: each such cell gets its own ' so that none starts a formula.
  const defused = cell.replace(INNER_FORMULA, "$1'");
  const split = defused !== cell;
  const text = split || LEADING_FORMULA.test(cell) ? `'${defused}` : defused;
  return split || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** U+FEFF, which Excel needs before a CSV to read it as UTF-8 (`?bom=1`); not sent by default. */
export const UTF8_BOM = '\uFEFF';

/** The `bom` query parameter of the CSV endpoints: only 1 or true, so a typo is a 400, not a silent default. */
export const BOM_VALUES = ['1', 'true'] as const;

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** One row per metric × variation (the control's comparison columns are empty). */
export function resultsCsv(results: ExperimentResults): string {
  const header = [
    'metric',
    'metric_name',
    'role',
    'type',
    'variation',
    'units',
    'total',
    'denominator_total',
    'mean',
    'effect',
    'ci_lower',
    'ci_upper',
    'p_value',
    'adjusted_p_value',
    'adjusted_ci_lower',
    'adjusted_ci_upper',
    'method',
    'significant',
    'cuped_applied',
    'cuped_variance_reduction',
    'chance_to_win',
    'risk_control',
    'risk_treatment',
    'cap',
    'error',
    'srm_p_value',
    // Added after the first columns, so that a spreadsheet reading those by position keeps working.
    'guardrail',
    'srm_flagged',
    'srm_error',
    // The split phase analysed (an index, "all" pooled, or "stratified": the phases combined) and its
    // window, so that a file of one phase cannot be taken for the pooled results; phase_pooled: the
    // effects pool split periods.
    'phase',
    'phase_from',
    'phase_to',
    'phase_pooled',
    // P(this variation is the best of all), the control included; empty when undefined.
    'chance_to_be_best',
    // The cap's kind (`cap` holds only its value): absolute or percentile, and the percentile asked for.
    'cap_type',
    'cap_percentile',
    // Units of the variation above the cap (empty: no cap, or not counted).
    'capped_units',
    // Units exposed to more than one variation whose first exposure was to this variation.
    'excluded_units',
    // Codes of the warnings that apply to the row (the experiment's, the variation's, the metric's in
    // this variation), separated by semicolons; the messages are in the JSON results.
    'warnings',
    // Why CUPED did or did not adjust the metric (applied, disabled, no-pre-exposure-data, …).
    'cuped_status',
    // What a unit is (the results' `unit`): the experiment's hash attribute ("id", "accountId", …)
    // and its fallback attribute (empty when none). `units` and every other unit count count these.
    'unit_attribute',
    'unit_fallback_attribute',
  ];
  const phase = results.filters.phase;
  const excluded = new Map(results.variations.map((v) => [v.key, v.excluded]));
  const warningsOf = (metric: string, variation: string): string =>
    [...new Set(results.warnings.filter((w) => (w.metric === null || w.metric === metric) && (w.variation === null || w.variation === variation)).map((w) => w.code))].join(';');
  const rows: Cell[][] = [];
  for (const m of results.metrics) {
    for (const v of m.variations) {
      const c = v.comparison;
      rows.push([
        m.key,
        m.name,
        m.role,
        m.type,
        v.variation,
        v.units,
        v.total,
        v.denominatorTotal,
        v.mean,
        c?.effect ?? null,
        c?.ci[0] ?? null,
        c?.ci[1] ?? null,
        c?.pValue ?? null,
        c?.adjustedPValue ?? null,
        c?.adjustedCi[0] ?? null,
        c?.adjustedCi[1] ?? null,
        c?.method ?? null,
        c?.significant ?? null,
        m.cupedApplied,
        c?.cuped?.varianceReduction ?? null,
        c?.chanceToWin ?? null,
        c?.risk.control ?? null,
        c?.risk.treatment ?? null,
        m.cap?.value ?? null,
        c?.error?.code ?? m.error?.code ?? null,
        results.srm.pValue,
        m.guardrail,
        results.srm.flagged,
        results.srm.error?.code ?? null,
        phase.index ?? (phase.stratified === undefined ? 'all' : 'stratified'),
        phase.from,
        phase.to,
        phase.pooled,
        v.chanceToBeBest,
        m.cap?.type ?? null,
        m.cap?.percentile ?? null,
        v.cappedUnits,
        excluded.get(v.variation) ?? 0,
        warningsOf(m.key, v.variation),
        m.cupedStatus,
        results.unit.attribute,
        results.unit.fallbackAttribute,
      ]);
    }
  }
  return toCsv(header, rows);
}

/** One row per time-series point × metric × treatment: the cumulative effect and interval; last, what a unit is (as the summary's). */
export function timeSeriesCsv(results: ExperimentResults): string {
  const header = ['bucket', 'end', 'metric', 'variation', 'control_units', 'variation_units', 'effect', 'ci_lower', 'ci_upper', 'p_value', 'error', 'unit_attribute', 'unit_fallback_attribute'];
  const control = results.variations[0]?.key ?? '';
  const rows: Cell[][] = [];
  for (const p of results.timeSeries.points) {
    for (const m of p.metrics) {
      rows.push([p.bucket, p.end, m.metric, m.variation, p.units[control] ?? 0, p.units[m.variation] ?? 0, m.effect, m.ci[0], m.ci[1], m.pValue, m.error?.code ?? null, results.unit.attribute, results.unit.fallbackAttribute]);
    }
  }
  return toCsv(header, rows);
}
