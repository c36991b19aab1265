/** Which effect a test reports. */
export const DifferenceType = {
  /** (treatment − control) / |control|: the lift, tested as equal means with a Fieller interval. */
  Relative: 'relative',
  /** treatment − control, in the metric's own units. */
  Absolute: 'absolute',
} as const;
export type DifferenceType = (typeof DifferenceType)[keyof typeof DifferenceType];

/** Alternative hypothesis of a frequentist test. */
export const Alternative = {
  /** The effect differs from zero in either direction. */
  TwoSided: 'two-sided',
  /** The treatment is larger than the control. */
  Greater: 'greater',
  /** The treatment is smaller than the control. */
  Less: 'less',
} as const;
export type Alternative = (typeof Alternative)[keyof typeof Alternative];

/** How per-unit values are summarised. */
export const StatisticType = {
  /** Arbitrary numeric value per unit; variance from the sums (n − 1 denominator). */
  Mean: 'mean',
  /** 0/1 conversion per unit (sum = sumSquares = conversions); variance p(1 − p). */
  Proportion: 'proportion',
  /** Sum of a numerator over sum of a denominator (e.g. revenue per session), delta method. */
  Ratio: 'ratio',
} as const;
export type StatisticType = (typeof StatisticType)[keyof typeof StatisticType];

/** Sufficient statistics of one metric in one arm. A proportion passes sum = sumSquares = conversions. */
export interface SampleStats {
  /** Units in the arm (values of the experiment's hash attribute: users, accounts, devices…). */
  readonly n: number;
  /** Σ x over units. */
  readonly sum: number;
  /** Σ x² over units. */
  readonly sumSquares: number;
  /**
   * When given, `sum` and `sumSquares` (and the cross-products that involve this arm's values) are
   * of x − shift: the mean is shift + sum / n. Sums around a value near the mean keep the variance
   * of large values with a small spread (1e9 ± 50) exact; raw sums would cancel catastrophically.
   * Not allowed on proportions. Default 0.
   */
  readonly shift?: number;
}

/** Σ x and Σ x² of one component of a ratio metric. */
export interface MomentSums {
  readonly sum: number;
  readonly sumSquares: number;
  /** As SampleStats.shift: the sums (and cross-products with this component) are of x − shift. */
  readonly shift?: number;
}

/** Sufficient statistics of a ratio metric Σ numerator / Σ denominator in one arm. */
export interface RatioStats {
  /** Units in the arm (values of the experiment's hash attribute: users, accounts, devices…). */
  readonly n: number;
  readonly numerator: MomentSums;
  readonly denominator: MomentSums;
  /** Σ numerator × denominator over units. */
  readonly sumProducts: number;
}

/** Either kind of arm input; ratio arms are recognised by their `numerator` field. */
export type ArmStats = SampleStats | RatioStats;

/**
 * Sums of the residual r = post − slope × pre of one arm. When post and pre are nearly collinear
 * (R² within 1e-12 of 1, e.g. large values with units at 0), s²_Y + θ²s²_X − 2θs_XY cancels to noise
 * in doubles; from these sums (computed exactly by the caller, slope near θ) the adjusted variance is
 * s²_R − 2(θ − slope)s_RX + (θ − slope)²s²_X, with no cancellation.
 */
export interface CupedResidual {
  /** The slope r was formed with; every arm of an analysis must give the same one. */
  readonly slope: number;
  /** Σ r (of r − shift when a shift is given). */
  readonly sum: number;
  /** Σ r². */
  readonly sumSquares: number;
  /** Σ r × pre (each with its shift). */
  readonly sumProducts: number;
  /** As SampleStats.shift. */
  readonly shift?: number;
}

/** Pre-exposure covariate of one arm for CUPED on a mean or proportion metric. */
export interface CupedCovariate {
  /** Pre-period sums over the same units as the post period (pre.n must equal the arm's n). */
  readonly pre: SampleStats;
  /** Σ post × pre over units. */
  readonly sumProducts: number;
  /** Optional exact residual sums, for nearly collinear post and pre (see CupedResidual). */
  readonly residual?: CupedResidual;
}

/** Σ post × pre cross-products for CUPED on a ratio metric. */
export interface RatioCrossProducts {
  /** Σ post numerator × pre numerator. */
  readonly numeratorNumerator: number;
  /** Σ post numerator × pre denominator. */
  readonly numeratorDenominator: number;
  /** Σ post denominator × pre numerator. */
  readonly denominatorNumerator: number;
  /** Σ post denominator × pre denominator. */
  readonly denominatorDenominator: number;
}

/** Pre-exposure covariate of one arm for CUPED on a ratio metric (the same ratio, pre-period). */
export interface RatioCupedCovariate {
  readonly pre: RatioStats;
  readonly crossProducts: RatioCrossProducts;
}

export type Covariate = CupedCovariate | RatioCupedCovariate;

/** CUPED covariates of the two arms of a comparison. */
export interface CupedInput {
  readonly control: Covariate;
  readonly treatment: Covariate;
}

/** What CUPED did to a comparison. */
export interface CupedSummary {
  /** Pooled regression coefficient of post on pre (0 when the covariate has no variance). */
  readonly theta: number;
  /** 1 − Var(adjusted effect) / Var(unadjusted effect): the share of variance removed. */
  readonly varianceReduction: number;
}

/** Closed interval [lower, upper]; one-sided intervals are open (±Infinity) on the untested side. */
export type Interval = readonly [number, number];
