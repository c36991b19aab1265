/** Backend package: the management API, SDK endpoints, pipeline and CDK stacks land here (issues 4-5). */
export const PACKAGE_NAME = '@xp/cloud';
export { EMBEDDED_EXPERIMENT_FLAG, startEmbeddedSdkServer } from './http/sdk/sdk-server.js';
export type { EmbeddedSdkServer } from './http/sdk/sdk-server.js';
export * as pipeline from './pipeline/index.js';
export { configFromEnv, startLocalStack } from './local/stack.js';
export type { LocalConfig, LocalStack, LocalStackOptions } from './local/stack.js';
export { computeResults } from './domain/results.js';
export type { ExperimentResults, ResultsRequest } from './domain/results.js';
