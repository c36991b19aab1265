export * from './model/index.js';
export * from './eval/index.js';
export * from './stats/index.js';
// The domain model's names win where statistics uses the same word for its own input types.
export { MetricType } from './model/index.js';
export type { ExperimentInput, MetricInput } from './model/index.js';
