import { StatsErrorCode, sampleSize } from '@xp/shared';
import { formatCount, formatDays, formatNumber, formatPercent } from '../../lib/format.js';

export interface PowerPlanInput {
  /** Baseline conversion rate in (0, 1). */
  readonly baseline: number;
  /** Relative lift to detect, e.g. 0.05 for +5%. */
  readonly mde: number;
  readonly alpha: number;
  readonly power: number;
  /** Number of variations, control included. */
  readonly arms: number;
  /** Eligible units per day and the share of them the experiment covers. */
  readonly dailyUnits: number;
  readonly coverage: number;
}

/** The calculator's fields, so the form can mark the one a problem is about. */
export type PowerPlanField = 'baseline' | 'mde' | 'alpha' | 'power' | 'dailyUnits';

export type PowerPlan = { readonly perArm: number; readonly total: number; readonly days: number } | { readonly error: string; readonly field?: PowerPlanField };

/**
 * Units per arm for a two-arm comparison (each treatment against control), and the days it takes.
 * Inputs are checked here, in the words of the form's fields: the statistics library's own messages
 * name options the form does not show.
 */
export function planDuration(input: PowerPlanInput): PowerPlan {
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
      error: `A ${change} lift on a ${formatPercent(input.baseline)} baseline would make the conversion rate ${formatPercent(treated)}: a rate must stay between 0% and 100%. Enter a smaller lift.`,
      field: 'mde',
    };
  }
  if (!(input.alpha > 0 && input.alpha < 1)) {
    return { error: 'The significance level α must be between 0 and 1 (exclusive), e.g. 0.05.', field: 'alpha' };
  }
  if (!(input.power > 0 && input.power < 1)) {
    return { error: 'Power must be between 0 and 1 (exclusive), e.g. 0.8.', field: 'power' };
  }
  if (!(input.dailyUnits >= 1)) {
    return { error: 'Enter the eligible units you expect per day: at least 1.', field: 'dailyUnits' };
  }
  if (!(input.coverage > 0)) {
    return { error: 'The experiment covers no traffic: raise its coverage (Targeting step).' };
  }
  const result = sampleSize({ mean: input.baseline, variance: input.baseline * (1 - input.baseline), effect: input.mde, difference: 'relative', alpha: input.alpha, power: input.power });
  if (result.error !== undefined) {
    return { error: result.error.code === StatsErrorCode.NON_FINITE_RESULT ? 'The lift is too small to detect with any realistic number of units: enter a larger one.' : result.error.message };
  }
  const perArm = Math.max(result.control, result.treatment);
  const total = perArm * Math.max(2, input.arms);
  return { perArm, total, days: total / (input.dailyUnits * input.coverage) };
}

/** The plan in a sentence: units per variation and in all, and how long that takes at the traffic given (`coverage` a share). */
export function planText(plan: PowerPlan, dailyUnits: number, coverage: number): string {
  if ('error' in plan) {
    return plan.error;
  }
  return `${formatCount(plan.perArm)} units per variation, ${formatCount(plan.total)} in all: about ${formatDays(plan.days)} at ${formatNumber(dailyUnits)} ${dailyUnits === 1 ? 'unit' : 'units'} a day with ${formatPercent(coverage, { digits: 0 })} of traffic.`;
}
