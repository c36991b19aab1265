/**
 * `@xp/shared/edge`: what the SDK endpoints and the evaluation Lambda need, without zod (whose
 * bundle size and module init would dominate the Lambda's cold start): the evaluation engine, the
 * SDK event checks, key checks and variation expansion. Types come along as types only.
 */
export * from './eval/index.js';
export { APP_NAME_MESSAGE, APP_NAME_PATTERN, MAX_EVALUATION_COUNT, MAX_EVALUATION_COUNTS, MAX_EVALUATION_WINDOW_MS, MAX_EVENTS_PER_BATCH, MAX_EVENT_BYTES, MAX_PROPERTY_DEPTH, MAX_UNITS, checkSdkEvent, isEvaluationsRecord } from './model/event-check.js';
export type { EventCheck, EventProblem } from './model/event-check.js';
export { KEY_MAX_LENGTH, KEY_PATTERN, KEY_PATTERN_MESSAGE, isKey } from './model/keys.js';
export { expandVariations, runsIn, stoppedRedirectUrl } from './model/variations.js';
export type { Experiment, ExperimentVariation } from './model/experiment.js';
export type { EvaluationsEvent, EvaluationsPipelineEvent, ExposureEvent, PipelineEvent, PipelineRecord, SdkBatchItem, SdkEvent, TrackEvent } from './model/event.js';
export type { Ruleset } from './model/ruleset.js';
export { clientRuleset, hasServerOnlyKeys, serverOnlyKeys } from './model/client-ruleset.js';
export type { ServerOnlyKeys } from './model/client-ruleset.js';
export { SEARCH_FOLD_DROPPED, searchFold } from './text.js';
