import { z } from 'zod';
import { RULESET_SCHEMA_VERSION } from '../eval/ruleset-validator.js';
import { attributeNameSchema, conditionSchema, fractionSchema, hashVersionSchema, jsonValueSchema, keySchema } from './common.js';

/**
 * The ruleset: the compiled, per-environment document an SDK downloads and evaluates locally.
 * It holds only what evaluation needs — no names, descriptions or disabled rules — and every
 * default (seed, hash version, hash attribute) is written out so evaluation never guesses.
 * Variations are referenced by index into the flag's `variations`.
 *
 * Evaluation validates rulesets with the dependency-free twin of these schemas in
 * eval/ruleset-validator.ts (so SDK bundles carry no zod); a change here must be made there too,
 * and eval/__tests__/ruleset-validator.test.ts checks that both accept the same documents.
 */

export { RULESET_SCHEMA_VERSION };

const index = z.number().int().min(0);
const epochMs = z.number().int();

const rulesetRuleBase = {
  id: z.string().min(1).max(64),
  condition: conditionSchema.optional(),
  /** Active window in epoch milliseconds: from inclusive, until exclusive. */
  from: epochMs.optional(),
  until: epochMs.optional(),
};

const rulesetHashing = {
  hashAttribute: attributeNameSchema,
  fallbackAttribute: attributeNameSchema.optional(),
  seed: z.string().max(256),
  hashVersion: hashVersionSchema,
};

export const rulesetRuleSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...rulesetRuleBase, type: z.literal('force'), variation: index }),
  z.strictObject({
    ...rulesetRuleBase,
    ...rulesetHashing,
    type: z.literal('rollout'),
    variation: index,
    coverage: fractionSchema,
    /** [epoch ms, coverage] ramp steps in ascending time order. */
    schedule: z.array(z.tuple([epochMs, fractionSchema])).max(50).optional(),
  }),
  z.strictObject({
    ...rulesetRuleBase,
    ...rulesetHashing,
    type: z.literal('split'),
    /** One weight per flag variation. */
    weights: z.array(z.number().min(0).max(1)).min(1).max(100),
  }),
  z.strictObject({
    ...rulesetRuleBase,
    type: z.literal('experiment'),
    experiment: keySchema,
    /** Flag variation index served for each experiment variation, by position. */
    variations: z.array(index).min(1).max(64),
  }),
]);
export type RulesetRule = z.output<typeof rulesetRuleSchema>;

export const rulesetFlagSchema = z.strictObject({
  /** Absent means on. */
  on: z.boolean().optional(),
  variations: z.array(z.strictObject({ key: keySchema, value: jsonValueSchema })).min(1).max(100),
  default: index,
  off: index,
  prerequisites: z.array(z.strictObject({ flag: keySchema, variation: keySchema })).max(20).optional(),
  rules: z.array(rulesetRuleSchema).max(500).optional(),
});
export type RulesetFlag = z.output<typeof rulesetFlagSchema>;

export const rulesetExperimentSchema = z.strictObject({
  ...rulesetHashing,
  coverage: fractionSchema,
  /** One weight per variation, adding up to 1. */
  weights: z.array(z.number().min(0).max(1)).min(1).max(64),
  variations: z.array(z.strictObject({ key: keySchema, value: jsonValueSchema.optional(), url: z.string().max(2048).optional() })).min(1).max(64),
  condition: conditionSchema.optional(),
  /** [namespace id, range start, range end). */
  namespace: z.tuple([z.string().min(1).max(128), fractionSchema, fractionSchema]).optional(),
  holdout: keySchema.optional(),
  sticky: z.strictObject({ bucketVersion: index, minBucketVersion: index }).optional(),
  /** Index of the variation served to everyone (a released winner). */
  force: index.optional(),
  /** Allows `?xp_<key>=<variation>` overrides for QA. */
  urlOverride: z.boolean().optional(),
});
export type RulesetExperiment = z.output<typeof rulesetExperimentSchema>;

export const rulesetHoldoutSchema = z.strictObject({
  hashAttribute: attributeNameSchema,
  seed: z.string().max(256),
  coverage: fractionSchema,
});
export type RulesetHoldout = z.output<typeof rulesetHoldoutSchema>;

/** The envelope; flags and experiments are validated one by one so one bad entry spoils nothing else. */
export const rulesetEnvelopeSchema = z.strictObject({
  schemaVersion: z.literal(RULESET_SCHEMA_VERSION),
  environment: keySchema,
  /** Increases by one with every publish of this environment. */
  version: z.number().int().min(0),
  generatedAt: z.string().optional(),
  flags: z.record(z.string(), z.unknown()),
  experiments: z.record(z.string(), z.unknown()).optional(),
  savedGroups: z.record(z.string(), z.array(z.union([z.string(), z.number()]))).optional(),
  holdouts: z.record(z.string(), z.unknown()).optional(),
});

export const rulesetSchema = rulesetEnvelopeSchema.extend({
  flags: z.record(keySchema, rulesetFlagSchema),
  experiments: z.record(keySchema, rulesetExperimentSchema).optional(),
  holdouts: z.record(keySchema, rulesetHoldoutSchema).optional(),
});
export type Ruleset = z.output<typeof rulesetSchema>;
