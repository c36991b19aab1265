import { ErrorCode as OfErrorCode, StandardResolutionReasons } from '@openfeature/core';
import type { EvaluationContext, FlagMetadata, JsonValue as OfJsonValue, ResolutionDetails } from '@openfeature/core';
import { ErrorCode, Reason } from '@xp/shared/eval';
import type { ExperimentationClient } from '../client.js';
import { COUNT_EVALUATION, UNCOUNTED_OPTIONS, isWrongValueType } from '../client.js';
import { NotConfiguredError } from '../errors.js';
import { SdkErrorCode } from '../types.js';
import type { EvaluationDetails, UserContext } from '../types.js';

/** xp error codes → OpenFeature's. */
const ERROR_CODES: Readonly<Record<string, OfErrorCode>> = {
  [ErrorCode.FlagNotFound]: OfErrorCode.FLAG_NOT_FOUND,
  [ErrorCode.ParseError]: OfErrorCode.PARSE_ERROR,
  [ErrorCode.InvalidRule]: OfErrorCode.PARSE_ERROR,
  [ErrorCode.PrerequisiteCycle]: OfErrorCode.PARSE_ERROR,
  [ErrorCode.InvalidContext]: OfErrorCode.INVALID_CONTEXT,
  // From evaluation, TYPE_MISMATCH means a bucketing attribute of the wrong type: a context problem.
  [ErrorCode.TypeMismatch]: OfErrorCode.INVALID_CONTEXT,
  [ErrorCode.General]: OfErrorCode.GENERAL,
  [SdkErrorCode.ProviderNotReady]: OfErrorCode.PROVIDER_NOT_READY,
};

/** xp reasons → OpenFeature's; PREREQUISITE_FAILED has no standard counterpart and is passed as is. */
const REASONS: Readonly<Record<string, string>> = {
  [Reason.Default]: StandardResolutionReasons.DEFAULT,
  [Reason.TargetingMatch]: StandardResolutionReasons.TARGETING_MATCH,
  [Reason.Split]: StandardResolutionReasons.SPLIT,
  [Reason.Disabled]: StandardResolutionReasons.DISABLED,
  [Reason.PrerequisiteFailed]: 'PREREQUISITE_FAILED',
  [Reason.FlagNotFound]: StandardResolutionReasons.ERROR,
  [Reason.Error]: StandardResolutionReasons.ERROR,
};

/**
 * A Date as evaluation compares one given directly (`dateAsString` in @xp/shared's condition.ts,
 * replicated because the SDK may not load more of @xp/shared): the ISO 8601 instant to the second,
 * `2026-06-01T00:00:00Z`, `+010000-01-01T00:00:00Z` past year 9999 (with milliseconds, `…00.000Z` sorts before `…00Z`, so OpenFeature and
 * `client.evaluate` disagreed in the boundary second and on every `$eq`); an invalid Date is absent.
 */
export function dateAsString(value: Date): string | null {
  return Number.isNaN(value.getTime()) ? null : `${value.toISOString().slice(0, -5)}Z`;
}

function plain(value: unknown): unknown {
  if (value instanceof Date) {
    return dateAsString(value);
  }
  if (Array.isArray(value)) {
    return value.map(plain);
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/**
 * The OpenFeature context as an xp unit: `targetingKey` becomes the id, the rest attributes (dates as
 * ISO strings to the second, as evaluation reads a Date). OpenFeature types the key as a string, but plain JavaScript passes numbers too: a
 * finite number is an id as in `client.evaluate` (its decimal string), not silently no id at all.
 */
export function toUser(context: EvaluationContext): UserContext {
  const { targetingKey, ...rest } = context;
  const attributes = plain(rest) as Record<string, unknown>;
  const key: unknown = targetingKey;
  if ((typeof key === 'string' && key !== '') || (typeof key === 'number' && Number.isFinite(key))) {
    return { id: key, attributes };
  }
  return { attributes };
}

/**
 * Evaluates with an object or array default. OpenFeature's object type is any JSON structure, so a
 * flag serving the other structure (an array for an object default, or the reverse) is served, not
 * a TYPE_MISMATCH; a string, number or boolean value still is one.
 */
function evaluateStructure<T extends OfJsonValue>(client: ExperimentationClient, flagKey: string, user: UserContext, defaultValue: T & object): EvaluationDetails<T> {
  const d = client.evaluate(flagKey, user, defaultValue, UNCOUNTED_OPTIONS);
  if (!isWrongValueType(d)) {
    return d;
  }
  // Evaluated again with the other structure as default: the mismatch logged no exposure, this does once.
  const other: object = Array.isArray(defaultValue) ? {} : [];
  const again = client.evaluate(flagKey, user, other as T, UNCOUNTED_OPTIONS);
  if (isWrongValueType(again)) {
    return d;
  }
  return again.value === other ? { ...again, value: defaultValue } : again;
}

/**
 * Evaluates through the client and maps the details to an OpenFeature resolution. Never throws.
 * Counted once in the client's evaluation counts, by the variation it serves (null: the default).
 */
export function resolveFlag<T extends OfJsonValue>(client: ExperimentationClient, flagKey: string, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
  let variation: string | null = null;
  try {
    const user = toUser(context);
    const d =
      typeof defaultValue === 'object' && defaultValue !== null ? evaluateStructure(client, flagKey, user, defaultValue) : client.evaluate(flagKey, user, defaultValue, UNCOUNTED_OPTIONS);
    variation = d.variationKey;
    const flagMetadata: FlagMetadata = {
      ...(d.ruleId === undefined ? {} : { ruleId: d.ruleId }),
      ...(d.prerequisite === undefined ? {} : { prerequisite: d.prerequisite }),
      ...(d.experiment === undefined
        ? {}
        : { experimentKey: d.experiment.key, experimentVariation: d.experiment.variationKey, inExperiment: d.experiment.inExperiment }),
      ...(d.errorCode === undefined ? {} : { xpErrorCode: d.errorCode }),
      xpReason: d.reason,
    };
    const errorCode = d.errorCode === undefined ? undefined : isWrongValueType(d) ? OfErrorCode.TYPE_MISMATCH : (ERROR_CODES[d.errorCode] ?? OfErrorCode.GENERAL);
    return {
      value: d.value,
      ...(d.variationKey === null ? {} : { variant: d.variationKey }),
      reason: REASONS[d.reason] ?? StandardResolutionReasons.UNKNOWN,
      ...(errorCode === undefined ? {} : { errorCode }),
      ...(d.errorMessage === undefined ? {} : { errorMessage: d.errorMessage }),
      flagMetadata,
    };
  } catch (e) {
    // A strict test client's unconfigured key is a flag the provider does not have.
    const errorCode = e instanceof NotConfiguredError ? OfErrorCode.FLAG_NOT_FOUND : OfErrorCode.GENERAL;
    return { value: defaultValue, reason: StandardResolutionReasons.ERROR, errorCode, errorMessage: e instanceof Error ? e.message : 'evaluation failed' };
  } finally {
    client[COUNT_EVALUATION](flagKey, variation);
  }
}
