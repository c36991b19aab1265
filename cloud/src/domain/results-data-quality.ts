/**
 * Data-quality checks of experiment results (docs/statistics.md, "Data-quality warnings"): a unit
 * that holds a large share of an arm's metric total, unit ids that a buggy client produces, and a
 * flagged SRM check, each as a typed warning with a human message. The sums decide when a query is
 * needed at all, so results of healthy experiments pay nothing for them.
 */
import type { Queryable } from '../store/db.js';
import type { LargestUnitRequest, LargestUnitRow, PopulationFilter, ResultsTarget, UnitIdRow } from '../store/results.js';
import { queryLargestUnits, queryUnitsWithIds } from '../store/results.js';

export const ResultsWarningCode = {
  /** The analysed units were first exposed under more than one split: the effects pool the periods. */
  SplitPeriodsPooled: 'SPLIT_PERIODS_POOLED',
  /** phase=stratified left out split phases in which some variation had fewer than 2 units (their units are not in the estimates). */
  StratifiedPhasesDropped: 'STRATIFIED_PHASES_DROPPED',
  /** One unit holds more than DOMINANT_UNIT_SHARE of a variation's total of a metric. */
  DominantUnit: 'DOMINANT_UNIT',
  /** Analysed units have ids a buggy client sends ("undefined", "null", whitespace, …). */
  SuspiciousUnitIds: 'SUSPICIOUS_UNIT_IDS',
  /** The SRM check flagged (as `srm.flagged`): the split of units differs from the expected shares. */
  SampleRatioMismatch: 'SAMPLE_RATIO_MISMATCH',
} as const;
export type ResultsWarningCode = (typeof ResultsWarningCode)[keyof typeof ResultsWarningCode];
export const RESULTS_WARNING_CODES = Object.values(ResultsWarningCode) as [ResultsWarningCode, ...ResultsWarningCode[]];

/** A warning of the results, as the response carries it. */
export interface ResultsWarning {
  readonly code: ResultsWarningCode;
  readonly message: string;
  /** The metric it concerns (DOMINANT_UNIT); null when it concerns the experiment. */
  readonly metric: string | null;
  /** The variation it concerns (DOMINANT_UNIT, SUSPICIOUS_UNIT_IDS); null when it concerns every variation. */
  readonly variation: string | null;
  /** DOMINANT_UNIT: the unit; SUSPICIOUS_UNIT_IDS: the ids found; each at most MAX_UNIT_ID_CHARS characters. Empty otherwise. */
  readonly unitIds: string[];
  /** DOMINANT_UNIT: the unit's share of the variation's total (0 to 1); null otherwise. */
  readonly share: number | null;
  /** SUSPICIOUS_UNIT_IDS: analysed units of the variation with such ids; null otherwise. */
  readonly unitCount: number | null;
}

/** An experiment-wide warning (no metric, variation, unit or share). */
export function plainWarning(code: ResultsWarningCode, message: string): ResultsWarning {
  return { code, message, metric: null, variation: null, unitIds: [], share: null, unitCount: null };
}

/** A unit holding more than this share of its variation's total of a metric (Σ|v|) is warned about… */
export const DOMINANT_UNIT_SHARE = 0.25;
/**
 * …when its value is also at least this many times the mean of the other units with a (non-zero)
 * value: an outlier among those who have the metric at all, not the rarity of the metric. Three
 * units with one refund each hold a third each and none stands out; a ratio of 10 is passed by
 * any unit over 25% once 31 units have a value (share · (n − 1) / (1 − share) ≥ (n − 1) / 3), so
 * the rule only bites on rare metrics. A lone contributor has no one to stand out from.
 */
export const DOMINANT_UNIT_MIN_RATIO = 10;
/** Variations with fewer analysed units are not checked: in tiny tests every unit is a large share. */
export const DOMINANT_UNIT_MIN_UNITS = 100;
/** Unit ids in warnings are cut to this many characters (an ellipsis marks the cut). */
export const MAX_UNIT_ID_CHARS = 64;
/** Ids listed per SUSPICIOUS_UNIT_IDS warning. */
const MAX_LISTED_IDS = 10;

/** `id` cut to MAX_UNIT_ID_CHARS user-perceived characters (an emoji stays whole), with an ellipsis when cut. */
export function truncateUnitId(id: string): string {
  if (id.length <= MAX_UNIT_ID_CHARS) {
    return id;
  }
  const graphemes = Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(id), (s) => s.segment);
  return graphemes.length <= MAX_UNIT_ID_CHARS ? id : `${graphemes.slice(0, MAX_UNIT_ID_CHARS).join('')}…`;
}

/** What a unit is: the experiment's hash attribute and fallback (the results' `unit`). */
export interface UnitKind {
  readonly attribute: string;
  readonly fallbackAttribute: string | null;
}

/** The attribute(s) a unit's id is a value of, for messages: "accountId", or "accountId or id" with a fallback. */
export function unitAttributes(unit: UnitKind): string {
  return unit.fallbackAttribute === null || unit.fallbackAttribute === unit.attribute ? unit.attribute : `${unit.attribute} or ${unit.fallbackAttribute}`;
}

/**
 * What one unit is called in a message: "unit" when the experiment buckets on `id` alone (any
 * visitor or user), else the attribute(s) it buckets on ("accountId", "accountId/id").
 */
export function unitLabel(unit: UnitKind): string {
  if (unit.attribute === 'id' && unit.fallbackAttribute === null) {
    return 'unit';
  }
  return unit.fallbackAttribute === null || unit.fallbackAttribute === unit.attribute ? unit.attribute : `${unit.attribute}/${unit.fallbackAttribute}`;
}

/**
 * The thing an id attribute names, when its name says so: "account" for accountId, account_id or
 * account-id, "device" for deviceId; undefined otherwise (id itself, email, anything else), and
 * with a fallback attribute (a unit is then one of two kinds).
 */
export function unitNoun(unit: UnitKind): string | undefined {
  if (unit.fallbackAttribute !== null && unit.fallbackAttribute !== unit.attribute) {
    return undefined;
  }
  // Id after a camelCase boundary or a separator: not the "id" of "paid" or "userid".
  const stem = /^([A-Za-z][A-Za-z0-9]*?)(?:[_-](?:id|Id|ID)|Id|ID)$/.exec(unit.attribute)?.[1];
  if (stem === undefined) {
    return undefined;
  }
  // camelCase words apart, lower case: customerAccountId → "customer account".
  return stem.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

/** What an arm of a metric sums to, as the analysis saw it (capped values). */
export interface ArmSums {
  readonly metric: string;
  readonly variation: string;
  /** Analysed units of the variation. */
  readonly units: number;
  /** Σ value and Σ value² (capped), as doubles. */
  readonly sum: number;
  readonly sumSquares: number;
  /** The cap the analysis applied, or null. */
  readonly cap: number | null;
}

/**
 * Whether an arm may have a unit above DOMINANT_UNIT_SHARE of its Σ|v|. No unit's |v| exceeds √Σv²
 * (for every unit v² ≤ Σv²) and Σ|v| ≥ |Σv|, so when √Σv² ≤ share · |Σv| no unit can dominate and
 * no query is needed, whatever the signs: an arm of many comparable values passes by far (1,000
 * units of 1: √1000 ≈ 32 of 1,000). Sums that overflowed a double cannot clear an arm: the query
 * (exact decimals) decides.
 */
export function mayHaveDominantUnit(arm: ArmSums): boolean {
  if (arm.units < DOMINANT_UNIT_MIN_UNITS) {
    return false;
  }
  if (!Number.isFinite(arm.sum) || !Number.isFinite(arm.sumSquares)) {
    return true;
  }
  const limit = DOMINANT_UNIT_SHARE * Math.abs(arm.sum);
  // limit² may overflow to Infinity: then the finite Σv² is below it, rightly.
  return arm.sumSquares > limit * limit;
}

/** The largest unit's |v| over the mean |v| of the arm's other non-zero units (Infinity when they add up to nothing). */
export function outlierRatio(share: number, contributors: number): number {
  if (contributors < 2) {
    return Number.NaN;
  }
  return share >= 1 ? Number.POSITIVE_INFINITY : (share * (contributors - 1)) / (1 - share);
}

/** Whether the largest unit of an arm is a dominant unit: over DOMINANT_UNIT_SHARE of Σ|v| and an outlier among the contributors. */
export function isDominant(share: number, contributors: number): boolean {
  return share > DOMINANT_UNIT_SHARE && outlierRatio(share, contributors) >= DOMINANT_UNIT_MIN_RATIO;
}

/**
 * DOMINANT_UNIT warnings of the arms (conversion metrics excluded by the caller: a unit counts at
 * most once there): the unit with the largest |v| of every arm the sums cannot clear, with the
 * arm's Σ|v|, Σv and contributors read in the same query (so the share is of one snapshot).
 */
export async function dominantUnitWarnings(
  db: Queryable,
  target: ResultsTarget,
  arms: readonly ArmSums[],
  filter: PopulationFilter,
  names: { metric(key: string): string; variation(key: string): string; unit: UnitKind },
): Promise<ResultsWarning[]> {
  const label = unitLabel(names.unit);
  const noun = unitNoun(names.unit);
  // Neutral about what a unit is: a user, a visitor's device, an account, …
  const check = noun === undefined ? 'Check that it is genuine (not a bot, a test account or an id shared by many)' : `Check that it is a real ${noun} (not a test ${noun}, a bot or an id shared by many)`;
  const candidates = arms.filter(mayHaveDominantUnit);
  if (candidates.length === 0) {
    return [];
  }
  const requests: LargestUnitRequest[] = candidates.map((a) => ({ metric: a.metric, variation: a.variation, cap: a.cap }));
  const largest = new Map<string, LargestUnitRow>((await queryLargestUnits(db, target, requests, filter)).map((r) => [`${r.metric}\u0000${r.variation}`, r]));
  const out: ResultsWarning[] = [];
  for (const arm of candidates) {
    const top = largest.get(`${arm.metric}\u0000${arm.variation}`);
    if (top === undefined) {
      continue;
    }
    const share = shareOf(top);
    if (!isDominant(share, top.contributors)) {
      continue;
    }
    const id = truncateUnitId(top.unitId);
    const capped = arm.cap === null ? '' : ` after capping at ${arm.cap}`;
    const signed = top.absoluteTotal !== top.total;
    const figures = signed
      ? `${amount(Number(top.value))} of an absolute total of ${amount(Number(top.absoluteTotal))}; net total ${amount(Number(top.total))}`
      : `${amount(Number(top.value))} of ${amount(Number(top.total))}`;
    out.push({
      code: ResultsWarningCode.DominantUnit,
      message:
        `one ${label} (${JSON.stringify(id)}) holds ${formatShare(share)} of ${signed ? 'the absolute total of ' : ''}${names.metric(arm.metric)} in ${names.variation(arm.variation)}${capped} (${figures}): ` +
        `the variation's mean and the comparison hinge on it. ${check}, then ` +
        (arm.cap === null ? 'cap the metric (capping: absolute or percentile) to limit outliers' : 'lower the cap'),
      metric: arm.metric,
      variation: arm.variation,
      unitIds: [id],
      share,
      unitCount: null,
    });
  }
  return out;
}

/** |value| / Σ|v| in doubles when both fit (exactly rounded), else the query's exact quotient. */
function shareOf(top: LargestUnitRow): number {
  const value = Math.abs(Number(top.value));
  const total = Number(top.absoluteTotal);
  const share = Number.isFinite(value) && Number.isFinite(total) && total > 0 ? value / total : top.share;
  return Math.min(1, share);
}

/** A value for a message: at most 10 significant digits (the sums are doubles: no 300.00000000000006). */
function amount(x: number): string {
  return String(Number(x.toPrecision(10)));
}

/** "77%"; near all of it, one decimal rounded down ("99.9%"), so that a share below 1 never reads 100%. */
function formatShare(share: number): string {
  return share >= 0.99 && share < 1 ? `${(Math.floor(share * 1000) / 10).toFixed(1)}%` : `${Math.round(share * 100)}%`;
}

/**
 * Ids that buggy clients send for a missing value: JavaScript's String(undefined), String(null),
 * String(NaN) and String({}), Python's str(None), Ruby's nil, Go's <nil>, C's (null), SQL's NULL,
 * each in its usual spellings. "0" is not among them: numeric ids legitimately start at 0.
 */
const SUSPICIOUS_WORDS = ['undefined', 'null', 'nan', 'none', 'nil', '<nil>', '(null)', 'nsnull', '[object object]', '[object undefined]', '[object null]'];

/** Whitespace-only ids probed for (the ingestion refuses empty ids): up to 3 of space, tab, CR, LF, and runs of spaces. */
function whitespaceIds(): string[] {
  const chars = [' ', '\t', '\r', '\n'];
  let level = [''];
  const out: string[] = [];
  for (let length = 1; length <= 3; length++) {
    level = level.flatMap((prefix) => chars.map((c) => prefix + c));
    out.push(...level);
  }
  for (let n = 4; n <= 64; n++) {
    out.push(' '.repeat(n));
  }
  return out;
}

/** Every id SUSPICIOUS_UNIT_IDS looks for (exact matches: each an index probe). */
export const SUSPICIOUS_UNIT_IDS: readonly string[] = [
  ...new Set([
    'NaN',
    '[object Object]',
    '[object Undefined]',
    '[object Null]',
    '<nil>',
    '(null)',
    'NSNull',
    '',
    ...SUSPICIOUS_WORDS.flatMap((w) => [w, w.toUpperCase(), w.charAt(0).toUpperCase() + w.slice(1)]),
    ...whitespaceIds(),
  ]),
];

/** Most units SUSPICIOUS_UNIT_IDS reads (they are few: one per id and variation, at most). */
const MAX_SUSPICIOUS_ROWS = 1_000;

/** SUSPICIOUS_UNIT_IDS warnings, one per variation that has analysed units with such ids. */
export async function suspiciousUnitIdWarnings(
  db: Queryable,
  target: ResultsTarget,
  filter: PopulationFilter,
  names: { variation(key: string): string; unit: UnitKind },
): Promise<ResultsWarning[]> {
  const attributes = unitAttributes(names.unit);
  // Bucketed on id, the callers without one are users (or visitors); on accountId, they are whatever lacked an account id.
  const missing = attributes === 'id' ? 'every user whose id was missing' : `all traffic whose ${attributes} was missing`;
  const rows: UnitIdRow[] = await queryUnitsWithIds(db, target, SUSPICIOUS_UNIT_IDS, filter, MAX_SUSPICIOUS_ROWS);
  const byVariation = new Map<string, string[]>();
  for (const r of rows) {
    byVariation.set(r.variation, [...(byVariation.get(r.variation) ?? []), r.unitId]);
  }
  return [...byVariation]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([variation, ids]) => {
      const shown = ids.slice(0, MAX_LISTED_IDS).map(truncateUnitId);
      const list = shown.map((id) => JSON.stringify(id)).join(', ') + (ids.length > shown.length ? ', …' : '');
      return {
        code: ResultsWarningCode.SuspiciousUnitIds,
        message:
          `${ids.length} analysed unit${ids.length === 1 ? ' has an id' : 's have ids'} that a client sends for a missing value (${list}) in ${names.variation(variation)}: ` +
          `${missing} is counted as that one unit. Fix the SDK call that passes ${attributes === 'id' ? 'the id' : attributes}, and consider stopping and restarting the experiment once fixed`,
        metric: null,
        variation,
        unitIds: shown,
        share: null,
        unitCount: ids.length,
      };
    });
}
