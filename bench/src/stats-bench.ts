/**
 * Statistics engine benchmark: one full analysis of an experiment with 5 variations (control + 4
 * treatments) × 50 metrics — fixed-horizon and sequential tests, CUPED, Bayesian posteriors, Holm
 * correction across all 200 comparisons and SRM — timed against the 5 ms target.
 */
import { analyzeExperiment, chanceToBeBest, isStatsError, seededRandom } from '@xp/shared';
import type {
  CupedCovariate,
  EffectPosterior,
  ExperimentAnalysisInput,
  MetricAnalysisInput,
  RatioCupedCovariate,
  RatioStats,
  SampleStats,
} from '@xp/shared';

const TARGET_MS = 5;
const VARIATIONS = 5;
const METRICS = 50;
const UNITS = 20_000;
const WARMUP_RUNS = 300;
const MEASURED_RUNS = 3000;

function sampleStats(n: number, mean: number, variance: number): SampleStats {
  return { n, sum: n * mean, sumSquares: (n - 1) * variance + n * mean * mean };
}

function meanMetric(key: string, random: () => number, withCuped: boolean): MetricAnalysisInput {
  const base = 10 + 90 * random();
  const variance = (base * (0.5 + random())) ** 2;
  const arms = Array.from({ length: VARIATIONS }, () => sampleStats(UNITS, base * (1 + 0.02 * (random() - 0.5)), variance));
  if (!withCuped) {
    return { key, type: 'mean', arms };
  }
  const covariates = arms.map((arm): CupedCovariate => {
    const pre = sampleStats(UNITS, base, variance);
    const covariance = 0.6 * variance;
    return { pre, sumProducts: (UNITS - 1) * covariance + (arm.sum * pre.sum) / UNITS };
  });
  return { key, type: 'mean', arms, covariates, cap: { type: 'percentile', percentile: 0.99, value: base * 20 } };
}

function proportionMetric(key: string, random: () => number): MetricAnalysisInput {
  const rate = 0.02 + 0.3 * random();
  const arms = Array.from({ length: VARIATIONS }, () => {
    const conversions = Math.round(UNITS * rate * (1 + 0.05 * (random() - 0.5)));
    return { n: UNITS, sum: conversions, sumSquares: conversions };
  });
  return { key, type: 'proportion', arms };
}

function ratioStats(n: number, ratio: number, meanDenominator: number): RatioStats {
  const den = n * meanDenominator;
  const num = den * ratio;
  return {
    n,
    numerator: { sum: num, sumSquares: (num * num) / n + (n - 1) * 4 * ratio * ratio },
    denominator: { sum: den, sumSquares: (den * den) / n + (n - 1) },
    sumProducts: (num * den) / n + (n - 1) * 1.2 * ratio,
  };
}

function ratioMetric(key: string, random: () => number, withCuped: boolean): MetricAnalysisInput {
  const ratio = 1 + 5 * random();
  const arms = Array.from({ length: VARIATIONS }, () => ratioStats(UNITS, ratio * (1 + 0.02 * (random() - 0.5)), 3));
  if (!withCuped) {
    return { key, type: 'ratio', arms };
  }
  const covariates = arms.map((arm): RatioCupedCovariate => {
    const pre = ratioStats(UNITS, ratio, 3);
    const cross = (post: number, prior: number, covariance: number): number => (post * prior) / UNITS + (UNITS - 1) * covariance;
    return {
      pre,
      crossProducts: {
        numeratorNumerator: cross(arm.numerator.sum, pre.numerator.sum, 2 * ratio * ratio),
        numeratorDenominator: cross(arm.numerator.sum, pre.denominator.sum, 0.5 * ratio),
        denominatorNumerator: cross(arm.denominator.sum, pre.numerator.sum, 0.5 * ratio),
        denominatorDenominator: cross(arm.denominator.sum, pre.denominator.sum, 0.5),
      },
    };
  });
  return { key, type: 'ratio', arms, covariates };
}

/** 20 CUPED means, 5 plain means, 15 conversions, 5 ratios and 5 CUPED ratios. */
export function buildBenchExperiment(seed = 42): ExperimentAnalysisInput {
  const random = seededRandom(seed);
  const metrics: MetricAnalysisInput[] = [];
  for (let i = 0; i < METRICS; i++) {
    const key = `metric-${i}`;
    if (i < 20) {
      metrics.push(meanMetric(key, random, true));
    } else if (i < 25) {
      metrics.push(meanMetric(key, random, false));
    } else if (i < 40) {
      metrics.push(proportionMetric(key, random));
    } else {
      metrics.push(ratioMetric(key, random, i >= 45));
    }
  }
  return {
    variations: Array.from({ length: VARIATIONS }, (_, i) => ({
      key: i === 0 ? 'control' : `treatment-${i}`,
      weight: 1,
      units: UNITS,
    })),
    metrics,
    options: { sequential: true, correction: 'holm', alpha: 0.05 },
  };
}

function percentile(sorted: readonly number[], q: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/** Chance to be best for one metric of `arms` arms: similar treatments over a shared control (ρ ≈ −0.7). */
function bestArmEffects(arms: number): EffectPosterior[] {
  return Array.from({ length: arms - 1 }, (_, i) => ({
    mean: 0.01 * (i - 1) + 0.003 * ((i * 7) % 3),
    sd: 0.02 * (1 + 0.05 * i),
    controlLoading: -0.7 - 0.01 * i,
  }));
}

/** Median milliseconds of one chanceToBeBest call (one metric of an experiment's results). */
function timeBestArm(effects: readonly EffectPosterior[], runs: number): number {
  let sink = 0;
  for (let i = 0; i < Math.max(5, runs / 10); i++) {
    const p = chanceToBeBest(effects);
    sink += isStatsError(p) ? 0 : (p[0] ?? 0);
  }
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const p = chanceToBeBest(effects);
    samples.push(performance.now() - start);
    sink += isStatsError(p) ? 0 : (p[0] ?? 0);
  }
  samples.sort((a, b) => a - b);
  if (sink < 0) {
    console.log(sink);
  }
  return percentile(samples, 0.5);
}

/** Prints median and p99 milliseconds per analysis and the ratio target / actual. */
export async function runStatsBench(): Promise<void> {
  const input = buildBenchExperiment();
  const comparisons = METRICS * (VARIATIONS - 1);
  let sink = 0;
  for (let i = 0; i < WARMUP_RUNS; i++) {
    sink += analyzeExperiment(input).metrics.length;
  }
  const samples: number[] = [];
  for (let i = 0; i < MEASURED_RUNS; i++) {
    const start = performance.now();
    const analysis = analyzeExperiment(input);
    samples.push(performance.now() - start);
    sink += analysis.metrics.length;
    if (i % 500 === 0) {
      // Yield so a long run does not starve the event loop of whoever hosts the bench.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  samples.sort((a, b) => a - b);
  const median = percentile(samples, 0.5);
  const p99 = percentile(samples, 0.99);
  // The results summary also asks for every arm's chance to be best (an integral per metric): the
  // same analysis with it, fewer runs.
  const withBest = { ...input, options: { ...input.options, chanceToBeBest: true } };
  const bestSamples: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = performance.now();
    sink += analyzeExperiment(withBest).metrics.length;
    bestSamples.push(performance.now() - start);
  }
  bestSamples.sort((a, b) => a - b);
  const bestMedian = percentile(bestSamples, 0.5);
  const rows: readonly (readonly string[])[] = [
    ['stat', 'ms / analysis', 'target ms', 'target / actual'],
    ['median', median.toFixed(3), TARGET_MS.toFixed(1), `${(TARGET_MS / median).toFixed(2)}x`],
    ['p99', p99.toFixed(3), TARGET_MS.toFixed(1), `${(TARGET_MS / p99).toFixed(2)}x`],
    ['median with chance to be best', bestMedian.toFixed(3), TARGET_MS.toFixed(1), `${(TARGET_MS / bestMedian).toFixed(2)}x`],
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  console.log(
    `\nStatistics engine: ${VARIATIONS} variations × ${METRICS} metrics = ${comparisons} comparisons ` +
      `(Welch + sequential + CUPED + Bayesian + Holm + SRM), ${MEASURED_RUNS} runs`,
  );
  for (const row of rows) {
    console.log(row.map((cell, column) => cell.padStart(widths[column] ?? 0)).join('  '));
  }
  // Chance to be best is per metric and grows with the arm count (the analysis above has 5 arms).
  const bestRows: readonly (readonly string[])[] = [
    ['chance to be best', 'ms / metric (median)'],
    ['5 arms', timeBestArm(bestArmEffects(5), 500).toFixed(3)],
    ['8 arms', timeBestArm(bestArmEffects(8), 200).toFixed(3)],
  ];
  const bestWidths = bestRows[0]?.map((_, column) => Math.max(...bestRows.map((row) => (row[column] ?? '').length))) ?? [];
  console.log('');
  for (const row of bestRows) {
    console.log(row.map((cell, column) => cell.padStart(bestWidths[column] ?? 0)).join('  '));
  }
  if (sink < 0) {
    console.log(sink);
  }
}
