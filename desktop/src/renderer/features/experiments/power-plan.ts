import { sampleSize } from '@xp/shared';

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

export type PowerPlan = { readonly perArm: number; readonly total: number; readonly days: number } | { readonly error: string };

/** Units per arm for a two-arm comparison (each treatment against control), and the days it takes. */
export function planDuration(input: PowerPlanInput): PowerPlan {
  if (!(input.baseline > 0 && input.baseline < 1)) {
    return { error: 'the baseline rate must be between 0% and 100%' };
  }
  if (!(input.dailyUnits > 0) || !(input.coverage > 0)) {
    return { error: 'enter the units you expect per day' };
  }
  const result = sampleSize({ mean: input.baseline, variance: input.baseline * (1 - input.baseline), effect: input.mde, difference: 'relative', alpha: input.alpha, power: input.power });
  if (result.error !== undefined) {
    return { error: result.error.message };
  }
  const perArm = Math.max(result.control, result.treatment);
  const total = perArm * Math.max(2, input.arms);
  return { perArm, total, days: total / (input.dailyUnits * input.coverage) };
}
