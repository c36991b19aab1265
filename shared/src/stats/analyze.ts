/**
 * One call that analyses a whole experiment: every metric, every variation against the control (index
 * 0), with the fixed-horizon test, the optional confidence sequence, CUPED when covariates are given,
 * the Gaussian Bayesian posterior, corrected p-values across metrics × variations, and SRM.
 */
import type { BayesianResult, GaussianPrior } from './bayesian.js';
import { posteriorFromEstimate, rankingPosterior, resolveBayesianOptions } from './bayesian.js';
import { chanceToBeBest } from './best-arm.js';
import type { EffectPosterior } from './best-arm.js';
import type { CapSpec } from './capping.js';
import { CorrectionMethod, adjustPValues } from './corrections.js';
import { StatsErrorCode, invalidChoice, isStatsError, statsError } from './errors.js';
import type { StatsError } from './errors.js';
import { isRatioStats, prepareComparisons } from './estimates.js';
import type { FrequentistResult, ResolvedFrequentistOptions } from './frequentist.js';
import { DEFAULT_ALPHA, TestMethod, neutralFrequentistResult, resolveFrequentistOptions, testEstimate } from './frequentist.js';
import { DEFAULT_SEQUENTIAL_TUNING } from './sequential.js';
import { srmTest } from './srm.js';
import type { SrmResult } from './srm.js';
import { Alternative, DifferenceType } from './types.js';
import type { ArmStats, Covariate, CupedCovariate, Interval, RatioCupedCovariate, RatioStats, SampleStats } from './types.js';

export interface VariationInput {
  readonly key: string;
  /** Configured traffic weight (any positive scale). */
  readonly weight: number;
  /** Units exposed, for the sample-ratio check. */
  readonly units: number;
}

interface MetricCommon {
  readonly key: string;
  /** The cap already applied when the sums were aggregated; echoed in the result. */
  readonly cap?: CapSpec;
  /** True when smaller is better; flips the Bayesian chance to win and risk. */
  readonly inverse?: boolean;
  /** Overrides the experiment-wide difference type for this metric. */
  readonly difference?: DifferenceType;
  /**
   * Every unit's value is ≥ 0 (counts; implied for proportions): the Bayesian credible interval of a
   * lift is cut at −100%.
   */
  readonly nonNegative?: boolean;
}

/** A metric's sufficient statistics per variation (same order as `variations`, control first). */
export type MetricAnalysisInput =
  | (MetricCommon & {
      readonly type: 'mean' | 'proportion';
      readonly arms: readonly SampleStats[];
      /** CUPED covariates per variation; CUPED is applied when present. */
      readonly covariates?: readonly CupedCovariate[];
    })
  | (MetricCommon & {
      readonly type: 'ratio';
      readonly arms: readonly RatioStats[];
      readonly covariates?: readonly RatioCupedCovariate[];
    });

export interface AnalysisOptions {
  /** Default 0.05. */
  readonly alpha?: number;
  /** Default 'relative'. */
  readonly difference?: DifferenceType;
  /** Default 'two-sided'. */
  readonly alternative?: Alternative;
  /** Also compute confidence sequences (always-valid p-values). Default false. */
  readonly sequential?: boolean;
  /** Default 5000. */
  readonly sequentialTuning?: number;
  /** Correction across metrics × variations, default 'holm'. */
  readonly correction?: CorrectionMethod;
  /** Prior for the Bayesian effect (on the scale of each metric's difference); flat when omitted. */
  readonly prior?: GaussianPrior;
  /** SRM flag threshold, default 0.001. */
  readonly srmThreshold?: number;
  /**
   * Compute each arm's `chanceToBeBest` (default false: null). A numerical integral per metric,
   * about 0.6–2.2 ms for three to eight arms, so an analysis asks for it where it is shown (the
   * results summary), not for every time-series point or breakdown value.
   */
  readonly chanceToBeBest?: boolean;
}

export interface ExperimentAnalysisInput {
  /** Control first. */
  readonly variations: readonly VariationInput[];
  readonly metrics: readonly MetricAnalysisInput[];
  readonly options?: AnalysisOptions;
}

/**
 * A frequentist result with its p-value adjusted across the experiment's family of comparisons, and
 * the interval that agrees with it: at level 1 − α·p/p_adj, so it excludes no effect exactly when
 * the adjusted p-value is below α (the same as `ci` when the correction changes nothing).
 */
export type AdjustedFrequentistResult = FrequentistResult & { readonly adjustedPValue: number; readonly adjustedCi: Interval };

export interface ComparisonResult {
  /** Key of the treatment variation. */
  readonly variation: string;
  /** Fixed-horizon Welch test (CUPED-adjusted when covariates were given). */
  readonly frequentist: AdjustedFrequentistResult;
  /** Confidence sequence, when `sequential` was requested. */
  readonly sequential: AdjustedFrequentistResult | null;
  readonly bayesian: BayesianResult;
}

export interface ArmSummary {
  readonly variation: string;
  readonly n: number;
  /** Unadjusted mean (or ratio) of the arm; 0 when undefined. */
  readonly mean: number;
  /**
   * Posterior probability that this arm (the control included) is the best of all arms, in the
   * metric's direction (`inverse`: lowest wins), from the Bayesian effect posteriors; sums to 1
   * over the arms. With one treatment it is [1 − chanceToWin, chanceToWin]. Null when some
   * comparison of the metric has no posterior (an error), or when not requested.
   */
  readonly chanceToBeBest: number | null;
}

export interface MetricAnalysis {
  readonly key: string;
  readonly type: MetricAnalysisInput['type'];
  readonly difference: DifferenceType;
  /** The cap that was applied before aggregation, or null. */
  readonly cap: CapSpec | null;
  /** Whether CUPED covariates were used. */
  readonly cuped: boolean;
  readonly arms: readonly ArmSummary[];
  /** One per treatment variation, in order. */
  readonly comparisons: readonly ComparisonResult[];
  readonly error?: StatsError;
}

export interface ExperimentAnalysis {
  readonly srm: SrmResult;
  /** The correction applied to every `adjustedPValue`. */
  readonly correction: CorrectionMethod;
  readonly alpha: number;
  /** Tuning of the confidence sequences, or null when they were not computed. */
  readonly sequentialTuning: number | null;
  readonly metrics: readonly MetricAnalysis[];
  readonly error?: StatsError;
}

function armMean(arm: ArmStats): number {
  const mean = isRatioStats(arm)
    ? (arm.n * (arm.numerator.shift ?? 0) + arm.numerator.sum) / (arm.n * (arm.denominator.shift ?? 0) + arm.denominator.sum)
    : (arm.shift ?? 0) + arm.sum / arm.n;
  return Number.isFinite(mean) ? mean : 0;
}

interface PendingComparison {
  readonly variation: string;
  readonly frequentist: FrequentistResult;
  readonly sequential: FrequentistResult | null;
  readonly bayesian: BayesianResult;
  /** The same test with its interval at another α (the adjusted interval); absent for a failed comparison. */
  readonly retest?: (result: FrequentistResult, intervalAlpha: number) => FrequentistResult;
}

function analyzeMetric(
  metric: MetricAnalysisInput,
  variations: readonly VariationInput[],
  fixed: ResolvedFrequentistOptions,
  options: AnalysisOptions,
): { readonly analysis: Omit<MetricAnalysis, 'comparisons'>; readonly pending: PendingComparison[] } {
  const badDifference = invalidChoice(`the difference of metric ${metric.key}`, metric.difference, DifferenceType);
  const difference = badDifference === null ? (metric.difference ?? fixed.difference) : fixed.difference;
  const nonNegative = metric.nonNegative === true || metric.type === 'proportion';
  const fixedOptions: ResolvedFrequentistOptions = { ...fixed, difference, nonNegative };
  const sequentialOptions: ResolvedFrequentistOptions = { ...fixedOptions, method: TestMethod.Sequential };
  const bayesOptions = resolveBayesianOptions({
    difference,
    alpha: fixed.alpha,
    inverse: metric.inverse === true,
    nonNegative,
    ...(options.prior === undefined ? {} : { prior: options.prior }),
  });
  const arms: readonly ArmStats[] = metric.arms;
  const covariates: readonly Covariate[] | undefined = metric.covariates;
  const base = {
    key: metric.key,
    type: metric.type,
    difference,
    cap: metric.cap ?? null,
    cuped: covariates !== undefined,
    arms: arms.map((arm, i): ArmSummary => ({ variation: variations[i]?.key ?? String(i), n: arm.n, mean: armMean(arm), chanceToBeBest: null })),
  };
  const badType = invalidChoice(`the type of metric ${metric.key}`, metric.type, { mean: 'mean', proportion: 'proportion', ratio: 'ratio' });
  let metricError: StatsError | null = badDifference ?? (badType === null ? null : statsError(StatsErrorCode.INVALID_INPUT, badType.message));
  if (metricError === null && (arms.length !== variations.length || (covariates !== undefined && covariates.length !== arms.length))) {
    metricError = statsError(StatsErrorCode.INVALID_INPUT, `metric ${metric.key} needs one arm (and covariate) per variation`);
  } else if (metricError === null && isStatsError(bayesOptions)) {
    metricError = bayesOptions;
  }
  const pending: PendingComparison[] = [];
  const posteriors: (EffectPosterior | null)[] = [];
  // Every comparison at once: CUPED's θ is pooled over all arms (y ~ 1 + arm + x).
  const prepared =
    metricError === null && !isStatsError(bayesOptions)
      ? prepareComparisons(
          arms,
          metric.type,
          difference,
          covariates,
          variations.map((v, i) => (i === 0 ? `the control "${v.key}"` : `variation "${v.key}"`)),
        )
      : [];
  for (let i = 1; i < variations.length; i++) {
    const variation = variations[i]?.key ?? String(i);
    const result = prepared[i - 1];
    if (result === undefined || isStatsError(result) || isStatsError(bayesOptions)) {
      const failure = metricError ?? (isStatsError(result) ? result : statsError(StatsErrorCode.INVALID_INPUT, 'missing arm'));
      pending.push({
        variation,
        frequentist: neutralFrequentistResult(fixedOptions, failure),
        sequential: options.sequential === true ? neutralFrequentistResult(sequentialOptions, failure) : null,
        bayesian: { effect: 0, ci: [0, 0], se: 0, chanceToWin: 0.5, risk: [0, 0], difference, cuped: null, error: failure },
      });
      posteriors.push(null);
      continue;
    }
    const bayesian = posteriorFromEstimate(result.estimate, bayesOptions, result.cuped);
    posteriors.push(bayesian.error === undefined ? rankingPosterior(result.estimate, bayesian, bayesOptions) : null);
    pending.push({
      variation,
      frequentist: testEstimate(result.estimate, fixedOptions, result.cuped),
      sequential: options.sequential === true ? testEstimate(result.estimate, sequentialOptions, result.cuped) : null,
      bayesian,
      retest: (done, intervalAlpha) => testEstimate(result.estimate, { ...(done.method === fixedOptions.method ? fixedOptions : sequentialOptions), intervalAlpha }, result.cuped),
    });
  }
  const best = metricError === null && options.chanceToBeBest === true ? bestOf(posteriors, metric.inverse === true) : null;
  const withBest = best === null ? base : { ...base, arms: base.arms.map((a, i) => ({ ...a, chanceToBeBest: best[i] ?? null })) };
  return { analysis: metricError === null ? withBest : { ...base, error: metricError }, pending };
}

/** Every arm's chance to be best, or null when some treatment has no posterior. */
function bestOf(posteriors: readonly (EffectPosterior | null)[], inverse: boolean): readonly number[] | null {
  const valid = posteriors.filter((p): p is EffectPosterior => p !== null);
  if (valid.length !== posteriors.length || valid.length === 0) {
    return null;
  }
  const best = chanceToBeBest(valid, inverse);
  return isStatsError(best) ? null : best;
}

/**
 * Adds the adjusted p-value and its interval in place (copying 200 results per analysis doubled
 * the garbage). The interval is the test's at α·p/p_adj, recomputed only when the correction raised p.
 */
function withAdjustment(result: FrequentistResult, adjustedPValue: number, retest: PendingComparison['retest']): AdjustedFrequentistResult {
  const raised = result.error === undefined && retest !== undefined && result.pValue > 0 && adjustedPValue > result.pValue;
  const adjustedCi = raised ? retest(result, (result.alpha * result.pValue) / adjustedPValue).ci : result.ci;
  return Object.assign(result, { adjustedPValue, adjustedCi });
}

/** Adjusts the p-values of results without an error as one family; errored results get 1. */
function adjustFamily(results: readonly FrequentistResult[], method: CorrectionMethod): number[] {
  const valid: number[] = [];
  results.forEach((r, i) => {
    if (r.error === undefined) {
      valid.push(i);
    }
  });
  const adjusted = adjustPValues(
    valid.map((i) => results[i]?.pValue ?? 1),
    method,
  );
  const out = new Array<number>(results.length).fill(1);
  valid.forEach((index, k) => {
    out[index] = adjusted[k] ?? 1;
  });
  return out;
}

/** Analyses every metric × variation of an experiment. Never throws. */
export function analyzeExperiment(input: ExperimentAnalysisInput): ExperimentAnalysis {
  const options = input.options ?? {};
  const correctionError = invalidChoice('correction', options.correction, CorrectionMethod);
  // An unknown correction is refused below; the echoed method is then the default.
  const correction = correctionError === null ? (options.correction ?? CorrectionMethod.Holm) : CorrectionMethod.Holm;
  const srm = srmTest(
    input.variations.map((v) => v.units),
    input.variations.map((v) => v.weight),
    { names: input.variations.map((v) => v.key), ...(options.srmThreshold === undefined ? {} : { threshold: options.srmThreshold }) },
  );
  const resolvedOptions = resolveFrequentistOptions({
    difference: options.difference ?? DifferenceType.Relative,
    alternative: options.alternative ?? Alternative.TwoSided,
    ...(options.alpha === undefined ? {} : { alpha: options.alpha }),
    ...(options.sequentialTuning === undefined ? {} : { sequentialTuning: options.sequentialTuning }),
  });
  const resolved = correctionError ?? resolvedOptions;
  const sequentialTuning = options.sequential === true ? (options.sequentialTuning ?? DEFAULT_SEQUENTIAL_TUNING) : null;
  if (isStatsError(resolved) || input.variations.length < 2) {
    const error = isStatsError(resolved)
      ? resolved
      : statsError(StatsErrorCode.INVALID_INPUT, 'an experiment needs a control and at least one treatment');
    return { srm, correction, alpha: options.alpha ?? DEFAULT_ALPHA, sequentialTuning, metrics: [], error };
  }
  const perMetric = input.metrics.map((metric) => analyzeMetric(metric, input.variations, resolved, options));
  const all = perMetric.flatMap((m) => m.pending);
  const fixedAdjusted = adjustFamily(
    all.map((c) => c.frequentist),
    correction,
  );
  const sequentialAdjusted =
    options.sequential === true
      ? adjustFamily(
          all.map((c) => c.sequential ?? c.frequentist),
          correction,
        )
      : [];
  let k = 0;
  const metrics = perMetric.map(({ analysis, pending }) => ({
    ...analysis,
    comparisons: pending.map((c): ComparisonResult => {
      const index = k++;
      return {
        variation: c.variation,
        frequentist: withAdjustment(c.frequentist, fixedAdjusted[index] ?? 1, c.retest),
        sequential: c.sequential === null ? null : withAdjustment(c.sequential, sequentialAdjusted[index] ?? 1, c.retest),
        bayesian: c.bayesian,
      };
    }),
  }));
  return { srm, correction, alpha: resolved.alpha, sequentialTuning, metrics };
}
