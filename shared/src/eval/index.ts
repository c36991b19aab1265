export { fnv1a32, hash } from './hash.js';
export { chooseVariation, getBucketRanges, getEqualWeights, inNamespace } from './bucketing.js';
export type { BucketRange, NamespaceRange } from './bucketing.js';
export { paddedVersionString } from './version.js';
export { compileCondition, evalCondition, getType, isOperatorObject, readAttribute } from './condition.js';
export { regexBacktrackingRisk } from './regex-safety.js';
export type { ConditionTest, SavedGroups } from './condition.js';
export { checkRuleset, checkRulesetEnvelope, checkRulesetExperiment, checkRulesetFlag, checkRulesetHoldout } from './ruleset-validator.js';
export { evaluateExperiment, evaluateFlag, resolveSplitUrl } from './evaluate.js';
export { exposureAttributes } from './exposure-attributes.js';
export { ErrorCode, Reason, SkipReason } from './types.js';
export { KEY_MAX_LENGTH, KEY_PATTERN, KEY_PATTERN_MESSAGE, isKey } from '../model/keys.js';
export type {
  EvaluationContext,
  EvaluationOptions,
  EvaluationResult,
  ExperimentAssignment,
  ExperimentResult,
  StickyBucketStore,
  TraceStep,
} from './types.js';
