/** Why an evaluation returned its value. */
export const Reason = {
  /** The flag is on and no rule matched: the default variation. */
  Default: 'DEFAULT',
  /** A force rule's condition matched. */
  TargetingMatch: 'TARGETING_MATCH',
  /** The unit was bucketed by a rollout, split or experiment rule. */
  Split: 'SPLIT',
  /** A prerequisite flag is off, failed its own prerequisites or did not serve the required variation: the off variation. */
  PrerequisiteFailed: 'PREREQUISITE_FAILED',
  /** The flag is off in this environment: the off variation. */
  Disabled: 'DISABLED',
  /** No flag with this key in the ruleset: the caller's default value. */
  FlagNotFound: 'FLAG_NOT_FOUND',
  /** Something was wrong with the ruleset or the context: the caller's default value. */
  Error: 'ERROR',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** What went wrong when the reason is ERROR or FLAG_NOT_FOUND. */
export const ErrorCode = {
  /** The requested flag or experiment is not in the ruleset. */
  FlagNotFound: 'FLAG_NOT_FOUND',
  /** The ruleset, or this flag's entry in it, does not match the schema. */
  ParseError: 'PARSE_ERROR',
  /** A rule cannot be evaluated safely: unknown operator, invalid regex, missing experiment. */
  InvalidRule: 'INVALID_RULE',
  /** Prerequisites form a cycle or are nested too deeply. */
  PrerequisiteCycle: 'PREREQUISITE_CYCLE',
  /** The context is not an object, or its attributes are not an object. */
  InvalidContext: 'INVALID_CONTEXT',
  /** An attribute used for bucketing is neither a string nor a number. */
  TypeMismatch: 'TYPE_MISMATCH',
  /** An unexpected failure; evaluation still returned the default value. */
  General: 'GENERAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Why a unit was left out of an experiment (it then falls through to the next rule). */
export const SkipReason = {
  /** The experiment is not in the ruleset (not running in this environment). */
  NotRunning: 'NOT_RUNNING',
  /** The unit has no value for the hash attribute (nor the fallback). */
  NoHashAttribute: 'NO_HASH_ATTRIBUTE',
  /** The unit's sticky assignment is from a bucket version below the minimum. */
  StickyBlocked: 'STICKY_BLOCKED',
  /** The unit falls outside the experiment's namespace range. */
  Namespace: 'NAMESPACE',
  /** The unit is in the experiment's holdout. */
  Holdout: 'HOLDOUT',
  /** The experiment's own targeting condition did not match. */
  Condition: 'CONDITION',
  /** The unit hashed outside the experiment's traffic coverage. */
  Coverage: 'COVERAGE',
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

/** Stores sticky-bucket assignments: experiment assignment key → variation key, per unit. */
export interface StickyBucketStore {
  /** Assignments for one unit, keyed by `${experimentKey}__${bucketVersion}`. */
  get(hashAttribute: string, hashValue: string): Readonly<Record<string, string>> | undefined;
  /** Persists the unit's updated assignments (all of them, not only the new one). */
  set(hashAttribute: string, hashValue: string, assignments: Readonly<Record<string, string>>): void;
}

/** Everything evaluation knows about the unit and the moment. */
export interface EvaluationContext {
  /** Unit attributes; dotted paths reach into nested objects. */
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** Evaluation time in epoch milliseconds, for schedules; defaults to Date.now(). */
  readonly now?: number;
  /** The page URL, for QA overrides `?xp_<experiment>=<variation key or index>`. */
  readonly url?: string;
  /** Experiment key → variation key or index, forced (not tracked). */
  readonly forcedVariations?: Readonly<Record<string, string | number>>;
  readonly stickyBuckets?: StickyBucketStore;
}

export interface EvaluationOptions<T = unknown> {
  /** Returned with reason ERROR or FLAG_NOT_FOUND; null when absent. */
  readonly defaultValue?: T;
  /** Record a trace of every rule considered and why it did or did not apply. */
  readonly explain?: boolean;
}

/** Experiment assignment details, present when an experiment decided the value. */
export interface ExperimentAssignment {
  readonly key: string;
  readonly variationKey: string;
  readonly variationIndex: number;
  /** True when the unit was bucketed (and should be tracked); false when forced. */
  readonly inExperiment: boolean;
  readonly hashAttribute: string;
  readonly hashValue: string;
  /** The unit's hash in [0, 1), when it was bucketed. */
  readonly bucket?: number;
  readonly sticky?: boolean;
  readonly forced?: boolean;
}

export interface TraceStep {
  readonly ruleId?: string;
  readonly outcome: string;
  readonly detail?: string;
}

export interface EvaluationResult<T = unknown> {
  readonly value: T;
  /** The served variation, or null when the caller's default was returned. */
  readonly variationKey: string | null;
  readonly reason: Reason;
  readonly ruleId?: string;
  /** The unit's hash in [0, 1) for rollout and split rules. */
  readonly bucket?: number;
  readonly experiment?: ExperimentAssignment;
  readonly prerequisite?: string;
  readonly errorCode?: ErrorCode;
  readonly errorMessage?: string;
  readonly trace?: readonly TraceStep[];
}

export interface ExperimentResult {
  readonly inExperiment: boolean;
  /** -1 when the unit is not in the experiment. */
  readonly variationIndex: number;
  readonly variationKey: string | null;
  readonly value?: unknown;
  readonly url?: string;
  readonly hashAttribute?: string;
  readonly hashValue?: string;
  readonly bucket?: number;
  readonly sticky?: boolean;
  readonly forced?: boolean;
  readonly skipReason?: SkipReason;
  readonly errorCode?: ErrorCode;
  readonly errorMessage?: string;
}
