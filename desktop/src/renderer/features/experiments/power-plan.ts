import { StatsErrorCode, sampleSize } from '@xp/shared';
import { formatCount, formatDays, formatNumber, formatPercent } from '../../lib/format.js';

/** A variation as the calculator needs it: its key and its weight (any scale; the weights are normalised). */
export interface PlanVariation {
  readonly key: string;
  readonly weight: number;
}

export interface PowerPlanInput {
  /** Baseline conversion rate in (0, 1). */
  readonly baseline: number;
  /** Relative lift to detect, e.g. 0.05 for +5%. */
  readonly mde: number;
  /** The significance level the results use (before the correction for multiple comparisons). */
  readonly alpha: number;
  readonly power: number;
  /** The variations with their weights, control (the first) first. */
  readonly variations: readonly PlanVariation[];
  /**
   * Metrics the results analyse (the experiment's and the project's guardrails; at least 1 is
   * assumed). The results correct every metric × treatment comparison together (Holm).
   */
  readonly metrics?: number;
  /**
   * The analysis plan's correction across the comparisons (default holm): `none` plans each at α;
   * holm and bh are planned at α / comparisons (Bonferroni, which neither is stricter than).
   */
  readonly correction?: 'holm' | 'bh' | 'none';
  /** The analysis plan's test is sequential: the fixed-horizon figure is a lower bound, said so. */
  readonly sequential?: boolean;
  /** Eligible units per day and the share of them the experiment covers. */
  readonly dailyUnits: number;
  readonly coverage: number;
}

/** The calculator's fields, so the form can mark the one a problem is about. */
export type PowerPlanField = 'baseline' | 'mde' | 'alpha' | 'power' | 'dailyUnits';

/** What one variation needs: the units its comparison(s) with control need it to have. */
export interface ArmNeed {
  readonly key: string;
  /** Its share of covered traffic, in (0, 1]. */
  readonly share: number;
  readonly units: number;
}

export interface PowerPlanResult {
  /** Every variation, control first, with the units it needs. */
  readonly arms: readonly ArmNeed[];
  /** Units entering the experiment until the last comparison has its sample. */
  readonly total: number;
  readonly days: number;
  /** The arm whose sample is reached last, when the weights differ (null for an even split). */
  readonly bottleneck: ArmNeed | null;
  /** Comparisons the results correct together (metrics × treatments), and the α planned for each. */
  readonly comparisons: number;
  readonly metrics: number;
  readonly alphaPerComparison: number;
  readonly correction: 'holm' | 'bh' | 'none';
  readonly sequential: boolean;
}

export type PowerPlan = PowerPlanResult | { readonly error: string; readonly field?: PowerPlanField };

/** Past this many days the calculator proposes no duration: the design needs a larger effect or more traffic. */
export const MAX_PLAN_DAYS = 10 * 365.25;

/** The message for a design that cannot reach its power in a realistic time. */
const TOO_LONG = 'more than 10 years: a larger effect or more traffic is needed';

/**
 * The units each variation needs and the days it takes. Each treatment is compared with control (the
 * first variation) by a two-sample test whose variance is σ²(1/n_c + 1/n_t), with n_c = w_c·N and
 * n_t = w_t·N for N units in the experiment: the comparison needs N_t units in all, and the
 * experiment runs until the comparison that needs the most has them. The results correct every
 * metric × treatment comparison together (Holm); the plan uses Bonferroni's α/m for each, which
 * Holm's first step is, so the plan is safe (a little conservative).
 *
 * Inputs are checked here, in the words of the form's fields: the statistics library's own messages
 * name options the form does not show. No input gives NaN or Infinity.
 */
export function planDuration(input: PowerPlanInput): PowerPlan {
  if (Number.isNaN(input.baseline)) {
    return { error: 'Enter the baseline conversion rate: a percentage between 0% and 100% (exclusive).', field: 'baseline' };
  }
  if (!(input.baseline > 0 && input.baseline < 1)) {
    return { error: 'The baseline conversion rate must be between 0% and 100% (exclusive).', field: 'baseline' };
  }
  if (!Number.isFinite(input.mde) || input.mde === 0) {
    return { error: 'Enter the lift worth detecting: a relative change other than 0%.', field: 'mde' };
  }
  const treated = input.baseline * (1 + input.mde);
  if (!(treated > 0 && treated < 1)) {
    const change = input.mde > 0 ? `+${formatNumber(input.mde * 100)}%` : `${formatNumber(input.mde * 100)}%`;
    return {
      error: `A ${change} lift on a ${formatPercent(input.baseline)} baseline would make the conversion rate ${formatPercent(treated)}: a rate must stay between 0% and 100%. Enter a lift closer to 0%.`,
      field: 'mde',
    };
  }
  if (!(input.alpha > 0 && input.alpha < 1)) {
    return { error: 'The significance level α must be between 0 and 1 (exclusive), e.g. 0.05.', field: 'alpha' };
  }
  if (!(input.power > 0 && input.power < 1)) {
    return { error: 'Power must be between 0 and 1 (exclusive), e.g. 0.8.', field: 'power' };
  }
  if (!(input.dailyUnits >= 1 && Number.isFinite(input.dailyUnits))) {
    return { error: 'Enter the eligible units you expect per day: at least 1.', field: 'dailyUnits' };
  }
  if (!(input.coverage > 0 && input.coverage <= 1)) {
    return { error: 'The experiment covers no traffic: raise its coverage (Targeting step).' };
  }
  const variations = input.variations;
  if (variations.length < 2) {
    return { error: 'An experiment needs at least two variations (Variations step).' };
  }
  if (!variations.every((v) => Number.isFinite(v.weight) && v.weight >= 0)) {
    return { error: 'Fix the weights of the variations first (Variations step).' };
  }
  const sum = variations.reduce((s, v) => s + v.weight, 0);
  const zero = variations.find((v) => v.weight === 0);
  if (!(sum > 0) || zero !== undefined) {
    const who = zero === undefined ? 'A variation' : `Variation “${zero.key}”`;
    return { error: `${who} gets 0% of the traffic: it would never get the units a comparison needs. Give it a weight or remove it (Variations step).` };
  }
  const shares = variations.map((v) => v.weight / sum);
  const control = shares[0] ?? 0;
  const treatments = variations.length - 1;
  // A count of metrics (an experiment lists at most a few hundred): anything else plans for one.
  const metrics = Math.min(1000, Math.max(1, Math.floor(Number.isFinite(input.metrics) ? (input.metrics ?? 1) : 1)));
  const comparisons = metrics * treatments;
  const correction = input.correction ?? 'holm';
  const alphaPerComparison = correction === 'none' ? input.alpha : input.alpha / comparisons;

  // Units in all (N) each treatment's comparison needs: its control units are w_c·N.
  const needs: number[] = [];
  for (let i = 1; i < variations.length; i++) {
    const share = shares[i] ?? 0;
    const result = sampleSize({
      mean: input.baseline,
      variance: input.baseline * (1 - input.baseline),
      effect: input.mde,
      difference: 'relative',
      alpha: alphaPerComparison,
      power: input.power,
      ratio: share / control,
    });
    if (result.error !== undefined) {
      return {
        error:
          result.error.code === StatsErrorCode.NON_FINITE_RESULT
            ? `The lift is too small to detect with any realistic number of units (${TOO_LONG}).`
            : result.error.message,
        field: 'mde',
      };
    }
    needs.push(result.controlExact / control);
  }
  const needed = Math.max(...needs);
  const days = needed / (input.dailyUnits * input.coverage);
  if (!Number.isFinite(days) || !Number.isFinite(needed)) {
    return { error: `The lift is too small to detect with any realistic number of units (${TOO_LONG}).`, field: 'mde' };
  }
  const units = (share: number, n: number): number => Math.max(2, Math.ceil(share * n - 1e-9));
  // Control needs its share of what the hardest comparison needs; a treatment, its own comparison's.
  const arms: ArmNeed[] = variations.map((v, i) => ({ key: v.key, share: shares[i] ?? 0, units: units(shares[i] ?? 0, i === 0 ? needed : (needs[i - 1] ?? needed)) }));
  const even = shares.every((s) => Math.abs(s - control) < 1e-9);
  // The hardest comparison's smaller arm is the one whose sample comes in last.
  const worst = needs.indexOf(needed) + 1;
  const bottleneck = even ? null : ((control < (shares[worst] ?? 0) ? arms[0] : arms[worst]) ?? null);
  const total = shares.reduce((s, share) => s + units(share, needed), 0);
  return { arms, total, days, bottleneck, comparisons, metrics, alphaPerComparison, correction, sequential: input.sequential === true };
}

/** "about 95 days", "less than a day", or more than 10 years: no duration then, but what is needed. */
export function durationText(days: number): string {
  if (!(days >= 1)) {
    return 'less than a day';
  }
  if (days > MAX_PLAN_DAYS) {
    return TOO_LONG;
  }
  return `about ${formatDays(days)}`;
}

function shareText(share: number): string {
  return `${formatNumber(Math.round(share * 10_000) / 100)}%`;
}

function alphaText(alpha: number): string {
  return String(Number(alpha.toPrecision(2)));
}

/**
 * The plan in sentences: the units per variation and in all, how long that takes at the traffic
 * given (`coverage` a share), which arm sets the duration when the weights differ, and the α each
 * comparison is planned at when the results correct several.
 */
export function planText(plan: PowerPlan, dailyUnits: number, coverage: number): string {
  if ('error' in plan) {
    return plan.error;
  }
  const rate = `at ${formatNumber(dailyUnits)} ${dailyUnits === 1 ? 'unit' : 'units'} a day with ${formatPercent(coverage, { digits: 0 })} of traffic`;
  const duration = durationText(plan.days);
  const when = duration === TOO_LONG ? `more than 10 years ${rate}: a larger effect or more traffic is needed` : `${duration} ${rate}`;
  const parts: string[] = [];
  if (plan.bottleneck === null) {
    parts.push(`${formatCount(plan.arms[0]?.units ?? 0)} units per variation, ${formatCount(plan.total)} in all: ${when}.`);
  } else {
    const each = plan.arms.map((a) => `${a.key} (${shareText(a.share)}) ${formatCount(a.units)}`).join(' · ');
    parts.push(`Units each variation needs: ${each}; ${formatCount(plan.total)} in all.`);
    parts.push(`The ${shareText(plan.bottleneck.share)} arm “${plan.bottleneck.key}” needs ${formatCount(plan.bottleneck.units)} units: ${when}.`);
  }
  if (plan.comparisons > 1) {
    const treatments = plan.comparisons / plan.metrics;
    const family = `${plan.metrics} ${plan.metrics === 1 ? 'metric' : 'metrics'} × ${treatments} ${treatments === 1 ? 'treatment' : 'treatments'}`;
    parts.push(
      plan.correction === 'none'
        ? `The analysis plan corrects none of the ${plan.comparisons} comparisons (${family}), so each is planned at α ${alphaText(plan.alphaPerComparison)}; expect more false positives across them.`
        : `The results correct the ${plan.comparisons} comparisons (${family}) together (${plan.correction === 'bh' ? 'Benjamini–Hochberg' : 'Holm'}), so each is planned at α ${alphaText(plan.alphaPerComparison)} (Bonferroni: α / ${plan.comparisons}, a little conservative).`,
    );
  }
  if (plan.sequential) {
    parts.push('The analysis plan is a sequential test, which may be read at any time but needs more units than this fixed-horizon figure for the same power: plan for longer.');
  }
  return parts.join(' ');
}
