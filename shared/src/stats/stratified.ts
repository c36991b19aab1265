/**
 * Post-stratification: one estimate per arm from the sufficient statistics of several strata (the
 * split phases of an experiment whose split moved while it ran), each stratum weighted by its share
 * of the units, π_p = N_p / Σ N. Within a stratum every arm was assigned under the same split, so a
 * comparison of the stratified means is free of the confounding that pooling the strata has
 * (Simpson's paradox) while still using every stratum's units.
 *
 * Per arm k: mean m_k = Σ_p π_p·x̄_kp and Var(m_k) = s²_k·Σ_p π_p² / n_kp, with s²_k the arm's pooled
 * within-stratum variance Σ_p (n_kp − 1)·s²_kp / Σ_p (n_kp − 1) (see Combined: a small stratum's own
 * variance is too noisy to carry its phase's weight). The result is an
 * equivalent input of the same metric — per arm n = Σ_p n_kp, mean m_k and a per-unit variance
 * n·Var(m_k) — so that every test of the engine (Welch, sequential, Bayesian, chance to be best)
 * runs on it unchanged with the stratified standard errors. What the equivalence approximates: the
 * Welch degrees of freedom are those of a single sample of n units (Satterthwaite over strata would
 * give fewer; immaterial once the arms have a few dozen units), and the sequential tests take n as
 * the sample size.
 */
import type { MetricAnalysisInput } from './analyze.js';
import type { CupedCovariate, MomentSums, RatioCupedCovariate, RatioStats, SampleStats } from './types.js';

/** A stratum needs at least this many units in every arm: a variance needs two. */
export const MIN_STRATUM_ARM_UNITS = 2;

/** Which strata a stratified estimate uses, and with which weight. */
export interface StratumWeights {
  /** π_p per stratum, in the order given: 0 for a stratum left out; the others sum to 1. */
  readonly weights: readonly number[];
  /** Strata used (weight > 0). */
  readonly used: number;
  /** Strata with units that were left out: some arm had fewer than MIN_STRATUM_ARM_UNITS units. */
  readonly dropped: readonly number[];
  /** Units (every arm) of the strata left out. */
  readonly droppedUnits: number;
}

/**
 * The weights of the strata from their units per arm (`units[p][k]`: units of arm k in stratum p):
 * a stratum in which some arm has fewer than two units is left out for every arm (no variance is
 * defined in it, and keeping the other arms' units would bring back the confounding); a stratum
 * without units is simply not there. π_p = units of p (every arm) / units of the strata kept.
 */
export function stratumWeights(units: readonly (readonly number[])[]): StratumWeights {
  const totals = units.map((arms) => arms.reduce((a, b) => a + b, 0));
  const dropped: number[] = [];
  const kept = units.map((arms, p) => {
    if (totals[p]! <= 0) {
      return false;
    }
    if (arms.some((n) => !(n >= MIN_STRATUM_ARM_UNITS))) {
      dropped.push(p);
      return false;
    }
    return true;
  });
  const total = totals.reduce((sum, n, p) => sum + (kept[p] ? n : 0), 0);
  const weights = totals.map((n, p) => (kept[p] && total > 0 ? n / total : 0));
  return { weights, used: weights.filter((w) => w > 0).length, dropped, droppedUnits: dropped.reduce((sum, p) => sum + totals[p]!, 0) };
}

/** One stratum of a metric: its engine input (one arm per variation) and its weight π_p. */
export interface Stratum {
  readonly input: MetricAnalysisInput;
  readonly weight: number;
}

/**
 * Of one arm over the strata: Σ_p π_p·x̄_p per component, Σ_p n_p, and the covariance of the
 * combined estimates per pair of components, Ĉ·Σ_p π_p²/n_p, where Ĉ is the arm's pooled
 * within-stratum (co)variance Σ_p (n_p − 1)·c_p / Σ_p (n_p − 1). Each stratum's own c_p in
 * Σ_p π_p²·c_p/n_p would be unbiased too, but a small stratum's c_p is noise with the weight of its
 * whole phase: a phase in which an arm held at its floor got 10 units and no conversion has
 * p(1 − p) = 0, and made that arm look certain (an A/A bandit gave p < 0.05 in 10 runs of 20). The
 * pooled estimate takes the variance from every unit of the arm and keeps each phase's weight on
 * its mean, so a few units in a heavy phase widen the interval, as they should.
 */
class Combined {
  readonly means: number[];
  n = 0;
  /** Σ_p π_p² / n_p. */
  private spread = 0;
  /** Σ_p (n_p − 1): the pooled (co)variances' degrees of freedom. */
  private dof = 0;
  private readonly pooled = new Map<string, number>();

  constructor(components: number) {
    this.means = new Array<number>(components).fill(0);
  }

  add(weight: number, n: number, means: readonly number[]): void {
    means.forEach((m, i) => {
      this.means[i]! += weight * m;
    });
    this.n += n;
    this.spread += (weight * weight) / n;
    this.dof += n - 1;
  }

  /** The stratum's (co)variance per unit of a pair of components (absent for a stratum: 0, as a stratum without pre-period data). */
  addCov(key: string, n: number, covariance: number): void {
    this.pooled.set(key, (this.pooled.get(key) ?? 0) + (n - 1) * covariance);
  }

  /** The (co)variance of the combined estimates as the centred sum of products of an equivalent sample of n units: (n − 1)·n·Cov. */
  products(key: string): number {
    if (this.n < 2 || this.dof <= 0) {
      return 0;
    }
    const covariance = ((this.pooled.get(key) ?? 0) / this.dof) * this.spread;
    return (this.n - 1) * this.n * covariance;
  }

  /** As `products` for a variance: never below 0 (rounding). */
  squares(key: string): number {
    return Math.max(0, this.products(key));
  }
}

/** Σ(a − ā)(b − b̄) / (n − 1) from sums of (possibly shifted) values: shift-invariant. */
function covariance(n: number, sumA: number, sumB: number, sumProducts: number): number {
  return (sumProducts - (sumA * sumB) / n) / (n - 1);
}

const meanOf = (n: number, m: MomentSums | SampleStats): number => (m.shift ?? 0) + m.sum / n;

/** An equivalent component: n units around `mean` with Σ(x − mean)² = squares. */
const equivalent = (mean: number, squares: number): MomentSums => ({ sum: 0, sumSquares: squares, ...(mean === 0 ? {} : { shift: mean }) });

/**
 * The stratified input of one metric: per arm, the strata's estimates combined with their weights
 * (post-stratification), as sums of an equivalent sample (see the module's comment). Strata of
 * weight 0 are ignored. A single stratum of weight 1 is its own input, unchanged.
 *
 * - mean: x̄ and s² (n − 1) of each stratum.
 * - proportion: p and p(1 − p) of each stratum, as the engine's proportions; the result is a `mean`
 *   input (a proportion's variance cannot be passed) marked nonNegative, so the lift's credible
 *   interval is still cut at −100%. An arm without a conversion in any stratum gives the zero-variance
 *   error rather than ZERO_CONVERSIONS.
 * - ratio: the combined ratio estimator Σπ·N̄_p / Σπ·D̄_p (the ratio of the population's numerator to
 *   its denominator, not a mean of the strata's ratios), its variance by the delta method over the
 *   strata's covariance matrices of numerator and denominator.
 * - CUPED covariates: the pre-period means and (co)variances are combined as the post-period ones
 *   (a stratum without covariates has no pre-period data: zeros), so the engine fits one θ over the
 *   stratified estimates: ỹ_k = m_k − θ(x̄ˢᵗ_k − x̄ˢᵗ), unbiased as the pre-period cannot depend on the
 *   arm within a stratum. The exact residual sums of nearly collinear data are not carried over.
 */
export function stratifyMetric(strata: readonly Stratum[]): MetricAnalysisInput {
  const used = strata.filter((s) => s.weight > 0);
  const first = used[0] ?? strata[0];
  if (first === undefined) {
    throw new Error('stratifyMetric needs at least one stratum');
  }
  if (used.length === 1 && used[0]!.weight === 1) {
    return used[0]!.input;
  }
  const base = first.input;
  const arms = base.arms.length;
  const withCovariates = used.some((s) => s.input.covariates !== undefined);
  const { arms: _arms, covariates: _covariates, ...common } = base;
  if (base.type === 'ratio') {
    const outArms: RatioStats[] = [];
    const outCovariates: RatioCupedCovariate[] = [];
    for (let k = 0; k < arms; k++) {
      // Components: 0 numerator, 1 denominator, 2 pre-period numerator, 3 pre-period denominator.
      const c = new Combined(4);
      for (const { input, weight } of used) {
        if (input.type !== 'ratio') {
          throw new Error('every stratum of a ratio metric must be a ratio input');
        }
        const arm = input.arms[k]!;
        const pre = input.covariates?.[k];
        const n = arm.n;
        const sums = [arm.numerator.sum, arm.denominator.sum, pre?.pre.numerator.sum ?? 0, pre?.pre.denominator.sum ?? 0];
        c.add(weight, n, [meanOf(n, arm.numerator), meanOf(n, arm.denominator), pre === undefined ? 0 : meanOf(n, pre.pre.numerator), pre === undefined ? 0 : meanOf(n, pre.pre.denominator)]);
        const products: Record<string, number> = {
          '0,0': arm.numerator.sumSquares,
          '1,1': arm.denominator.sumSquares,
          '0,1': arm.sumProducts,
          '2,2': pre?.pre.numerator.sumSquares ?? 0,
          '3,3': pre?.pre.denominator.sumSquares ?? 0,
          '2,3': pre?.pre.sumProducts ?? 0,
          '0,2': pre?.crossProducts.numeratorNumerator ?? 0,
          '0,3': pre?.crossProducts.numeratorDenominator ?? 0,
          '1,2': pre?.crossProducts.denominatorNumerator ?? 0,
          '1,3': pre?.crossProducts.denominatorDenominator ?? 0,
        };
        for (const [key, sumProducts] of Object.entries(products)) {
          const [i, j] = key.split(',').map(Number) as [number, number];
          c.addCov(key, n, covariance(n, sums[i]!, sums[j]!, sumProducts));
        }
      }
      const [num, den, preNum, preDen] = c.means as [number, number, number, number];
      const n = c.n;
      outArms.push({ n, numerator: equivalent(num, c.squares('0,0')), denominator: equivalent(den, c.squares('1,1')), sumProducts: c.products('0,1') });
      if (withCovariates) {
        outCovariates.push({
          pre: { n, numerator: equivalent(preNum, c.squares('2,2')), denominator: equivalent(preDen, c.squares('3,3')), sumProducts: c.products('2,3') },
          crossProducts: { numeratorNumerator: c.products('0,2'), numeratorDenominator: c.products('0,3'), denominatorNumerator: c.products('1,2'), denominatorDenominator: c.products('1,3') },
        });
      }
    }
    return { ...common, type: 'ratio', arms: outArms, ...(withCovariates ? { covariates: outCovariates } : {}) };
  }
  const outArms: SampleStats[] = [];
  const outCovariates: CupedCovariate[] = [];
  for (let k = 0; k < arms; k++) {
    // Components: 0 the value, 1 its pre-period value.
    const c = new Combined(2);
    for (const { input, weight } of used) {
      if (input.type === 'ratio') {
        throw new Error('every stratum of a mean or proportion metric must be of that type');
      }
      const arm = input.arms[k]!;
      const covariate = input.covariates?.[k];
      const n = arm.n;
      const mean = meanOf(n, arm);
      c.add(weight, n, [mean, covariate === undefined ? 0 : meanOf(n, covariate.pre)]);
      // A proportion's variance is p(1 − p), as the engine takes it; a mean's the sample variance.
      c.addCov('y', n, input.type === 'proportion' ? mean * (1 - mean) : covariance(n, arm.sum, arm.sum, arm.sumSquares));
      if (covariate !== undefined) {
        c.addCov('x', n, covariance(n, covariate.pre.sum, covariate.pre.sum, covariate.pre.sumSquares));
        c.addCov('xy', n, covariance(n, arm.sum, covariate.pre.sum, covariate.sumProducts));
      }
    }
    const n = c.n;
    const [post, pre] = c.means as [number, number];
    outArms.push({ n, ...equivalent(post, c.squares('y')) });
    if (withCovariates) {
      outCovariates.push({ pre: { n, ...equivalent(pre, c.squares('x')) }, sumProducts: c.products('xy') });
    }
  }
  return { ...common, type: 'mean', nonNegative: base.nonNegative === true || base.type === 'proportion', arms: outArms, ...(withCovariates ? { covariates: outCovariates } : {}) };
}
