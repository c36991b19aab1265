/** Public surface of the statistics engine. */
export { StatsErrorCode, isStatsError } from './errors.js';
export type { StatsError } from './errors.js';
export { Alternative, DifferenceType, StatisticType } from './types.js';
export type {
  ArmStats,
  Covariate,
  CupedCovariate,
  CupedInput,
  CupedResidual,
  CupedSummary,
  Interval,
  MomentSums,
  RatioCrossProducts,
  RatioCupedCovariate,
  RatioStats,
  SampleStats,
} from './types.js';
export { DEFAULT_ALPHA, TestMethod, frequentistTest } from './frequentist.js';
export type { FrequentistOptions, FrequentistResult } from './frequentist.js';
export { DEFAULT_SEQUENTIAL_TUNING } from './sequential.js';
export { bayesianTest, betaBinomialChanceToWin } from './bayesian.js';
export type { BayesianOptions, BayesianResult, BetaBinomialResult, BetaPrior, GaussianPrior } from './bayesian.js';
export { chanceToBeBest, controlLoading } from './best-arm.js';
export type { EffectPosterior } from './best-arm.js';
export { DEFAULT_SRM_THRESHOLD, srmTest } from './srm.js';
export type { SrmOptions, SrmResult } from './srm.js';
export { CorrectionMethod, adjustPValues } from './corrections.js';
export { power, sampleSize } from './power.js';
export type { PowerInput, PowerResult, SampleSizeInput, SampleSizeResult } from './power.js';
export { CapType, applyCap, percentileCap, quantile, summarizeValues } from './capping.js';
export type { CapSpec } from './capping.js';
export { analyzeExperiment } from './analyze.js';
export { MIN_STRATUM_ARM_UNITS, stratifyMetric, stratumWeights } from './stratified.js';
export type { Stratum, StratumWeights } from './stratified.js';
export type {
  AdjustedFrequentistResult,
  AnalysisOptions,
  ArmSummary,
  ComparisonResult,
  ExperimentAnalysis,
  ExperimentAnalysisInput,
  MetricAnalysis,
  MetricAnalysisInput,
  VariationInput,
} from './analyze.js';
export {
  chiSquareSf,
  normalCdf,
  normalIsf,
  normalQuantile,
  normalSf,
  studentTCdf,
  studentTIsf,
  studentTSf,
} from './special.js';
export { BANDIT_SHARE_UNITS, banditShares, banditWeights } from './bandit.js';
